package dev.dsv2.it;

import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;
import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.serve.BatchScheduler;
import dev.dsv2.engine.serve.ServingEngine;
import dev.dsv2.engine.serve.ServingSettings;
import dev.dsv2.gateway.router.EmbeddedRouter;
import dev.dsv2.router.RouterEngine;
import dev.dsv2.testsupport.CollectingListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One checkpoint and one set of configuration keys, served by the gateway's embedded router and by the
 * router-service's engine (every expert in-process) in the same JVM: the same KV cache (default sizing policy), the
 * same scheduler configuration, and the same tokens, greedy and sampled.
 */
class DeploymentModesTest {
    /** The keys as a deployment sets them; the KV cache size is left to the default policy. */
    private static final Map<String, String> KEYS = Map.of("dsv2.threads", "1", "dsv2.context-limit", "512",
            "dsv2.max-batch-tokens", "48", "dsv2.max-running", "6", "dsv2.max-waiting", "100");

    private static int[] prompt(int i) {
        int[] p = new int[4 + (i * 11) % 60];
        for (int j = 0; j < p.length; j++) {
            p[j] = (i * 97 + j * 31) % 1000;
        }
        return p;
    }

    private static SamplingParams params(int i) {
        SamplingParams.Builder b = SamplingParams.greedy(8 + i % 5).toBuilder().ignoreEos(true);
        return i % 2 == 0 ? b.build() : b.temperature(0.8).topP(0.9).seed(100 + i).build();
    }

    /** Runs the same requests, all at once, and returns each one's tokens. */
    private static List<int[]> generate(BatchScheduler scheduler) throws Exception {
        List<CollectingListener> all = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            CollectingListener t = new CollectingListener();
            all.add(t);
            scheduler.submit("r" + i, prompt(i), params(i), t);
        }
        List<int[]> out = new ArrayList<>();
        for (CollectingListener t : all) {
            assertEquals(FinishReason.LENGTH, t.done.get(120, TimeUnit.SECONDS), t.errorMessage);
            out.add(t.ids());
        }
        return out;
    }

    @Test
    void theEmbeddedGatewayRouterAndTheRouterServiceServeTheSameWay(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("tiny");
        RandomCheckpointWriter.write(ModelPresets.preset("tiny"), dir, 11, line -> { });
        ServingSettings serving = ServingSettings.parse(key -> Optional.ofNullable(KEYS.get(key)));

        List<int[]> embeddedTokens;
        long embeddedCache;
        BatchScheduler.Config embeddedConfig;
        try (EmbeddedRouter embedded = EmbeddedRouter.load(dir, serving, line -> { })) {
            ServingEngine e = embedded.engine();
            embeddedCache = e.cache().capacityTokens();
            embeddedConfig = e.scheduler().config();
            embeddedTokens = generate(e.scheduler());
        }

        RouterEngine.Settings routerSettings = new RouterEngine.Settings(dir, serving, List.of(),
                RouterEngine.SharedExperts.LOCAL, Duration.ofSeconds(30));
        try (RouterEngine router = RouterEngine.create(routerSettings, null)) {
            router.load(null);
            assertTrue(router.ready(), router.state());
            ServingEngine r = router.servingOrNull();
            assertEquals(embeddedCache, r.cache().capacityTokens(), "the same default KV cache size");
            assertEquals(8 * 512, embeddedCache, "the default policy: 8 contexts (a quarter of the heap is more)");
            assertEquals(embeddedConfig, r.scheduler().config());
            assertEquals(new BatchScheduler.Config(48, 6, 100, 512), embeddedConfig);
            assertEquals(512, router.contextLimit());
            List<int[]> routerTokens = generate(router.scheduler());
            for (int i = 0; i < embeddedTokens.size(); i++) {
                assertArrayEquals(embeddedTokens.get(i), routerTokens.get(i), "request " + i);
            }
        }
    }
}
