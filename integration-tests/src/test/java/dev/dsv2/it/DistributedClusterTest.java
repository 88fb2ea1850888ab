package dev.dsv2.it;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;
import dev.dsv2.engine.generate.Generator;
import dev.dsv2.engine.generate.TokenListener;
import dev.dsv2.engine.kernel.VectorBackend;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.proto.internal.v1.RouterEvent;
import dev.dsv2.proto.internal.v1.RouterGrpc;
import dev.dsv2.proto.internal.v1.RouterRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The distributed deployment on one machine: two expert-service shards and a router-service, each a separate JVM
 * started from its packaged jar, talking gRPC over loopback. Greedy generations through it, 16 streams at once,
 * equal the in-process engine's token for token.
 */
class DistributedClusterTest {
    private static final int STREAMS = 16;
    private static final int MAX_TOKENS = 10;
    private static Path model;
    private static final List<ServiceProcess> services = new ArrayList<>();
    private static ServiceProcess router;
    private static ManagedChannel routerChannel;

    @BeforeAll
    static void startCluster() throws Exception {
        model = Path.of("target", "it-model").toAbsolutePath();
        if (!Files.exists(model.resolve("config.json"))) {
            RandomCheckpointWriter.write(ModelPresets.preset("tiny"), model, 21, s -> { });
        }
        for (int i = 0; i < 2; i++) {
            services.add(ServiceProcess.start("expert-" + i, "expert-service", Map.of(
                    "dsv2.model.dir", model.toString(), "dsv2.shard.index", "" + i, "dsv2.shard.count", "2")));
        }
        for (ServiceProcess s : services) {
            s.awaitReady(Duration.ofSeconds(120));
        }
        router = ServiceProcess.start("router", "router-service", Map.of(
                "dsv2.model.dir", model.toString(),
                "dsv2.router.experts", services.get(0).grpcAddress() + "," + services.get(1).grpcAddress(),
                "dsv2.kv-cache.tokens", "8192"));
        services.add(router);
        router.awaitReady(Duration.ofSeconds(120));
        routerChannel = ManagedChannelBuilder.forTarget(router.grpcAddress()).usePlaintext().build();
    }

    @AfterAll
    static void stopCluster() throws InterruptedException {
        if (routerChannel != null) {
            routerChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        for (ServiceProcess s : services) {
            s.close();
        }
    }

    static int[] prompt(int i) {
        int[] p = new int[2 + (i * 5) % 23];
        for (int j = 0; j < p.length; j++) {
            p[j] = (i * 193 + j * 31 + 7) % 1024;
        }
        return p;
    }

    /** The embedded engine's greedy tokens for each prompt (in-process, every expert local, float32). */
    static int[][] embeddedTokens() {
        int[][] want = new int[STREAMS][];
        try (VectorBackend be = new VectorBackend(2); DeepseekV2Model m = DeepseekV2Model.load(model, be, null)) {
            Generator g = new Generator(m, LatentKvCache.forTokens(m.config(), 256));
            for (int i = 0; i < STREAMS; i++) {
                want[i] = g.generate(prompt(i), SamplingParams.greedy(MAX_TOKENS).toBuilder().ignoreEos(true).build(),
                        null, TokenListener.NONE).outputIds();
            }
        }
        return want;
    }

    @Test
    void sixteenConcurrentStreamsThroughRouterAndTwoShardsEqualTheEmbeddedEngine() throws Exception {
        int[][] want = embeddedTokens();
        RouterGrpc.RouterBlockingStub stub = RouterGrpc.newBlockingStub(routerChannel);
        ExecutorService pool = Executors.newFixedThreadPool(STREAMS);
        try {
            List<Future<int[]>> got = new ArrayList<>();
            for (int i = 0; i < STREAMS; i++) {
                int n = i;
                got.add(pool.submit(() -> {
                    RouterRequest.Builder req = RouterRequest.newBuilder().setRequestId("it-" + n);
                    for (int t : prompt(n)) {
                        req.addPromptIds(t);
                    }
                    req.getSamplingBuilder().setTemperature(0).setTopP(1).setMaxTokens(MAX_TOKENS).setIgnoreEos(true);
                    List<Integer> ids = new ArrayList<>();
                    Iterator<RouterEvent> events = stub.withDeadlineAfter(120, TimeUnit.SECONDS).generate(req.build());
                    String finish = null;
                    while (events.hasNext()) {
                        RouterEvent e = events.next();
                        switch (e.getKindCase()) {
                            case TOKEN -> ids.add(e.getToken().getTokenId());
                            case COMPLETE -> finish = e.getComplete().getFinishReason();
                            case ERROR -> throw new AssertionError("stream " + n + ": " + e.getError().getMessage());
                            default -> throw new AssertionError("stream " + n + ": empty event");
                        }
                    }
                    assertEquals("length", finish, "stream " + n);
                    return ids.stream().mapToInt(Integer::intValue).toArray();
                }));
            }
            for (int i = 0; i < STREAMS; i++) {
                assertArrayEquals(want[i], got.get(i).get(180, TimeUnit.SECONDS), "stream " + i);
            }
        } finally {
            pool.shutdownNow();
        }
        String metrics = router.metrics();
        assertTrue(metrics.contains("vllm:num_requests_running"), "router exposes vLLM gauge names");
    }
}
