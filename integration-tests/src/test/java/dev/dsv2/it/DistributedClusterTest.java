package dev.dsv2.it;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.generate.Generator;
import dev.dsv2.engine.generate.TokenListener;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.proto.internal.v1.RouterEvent;
import dev.dsv2.proto.internal.v1.RouterGrpc;
import dev.dsv2.proto.internal.v1.RouterRequest;
import dev.dsv2.proto.v1.GenerateChunk;
import dev.dsv2.proto.v1.GenerateRequest;
import dev.dsv2.proto.v1.InferenceGrpc;
import dev.dsv2.proto.v1.TokenIds;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

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
 * The distributed deployment on one machine: two expert-service shards, a router-service and a gateway, each a
 * separate JVM started from its packaged jar, talking gRPC over loopback. Greedy generations through it, 16 streams
 * at once (through the router's internal API and through the gateway's public API), equal the in-process engine's
 * token for token.
 */
class DistributedClusterTest {
    private static final int STREAMS = 16;
    private static final int MAX_TOKENS = 10;
    private static Path model;
    private static final List<ServiceProcess> services = new ArrayList<>();
    private static ServiceProcess router;
    private static ManagedChannel routerChannel;
    private static ServiceProcess gateway;
    private static ManagedChannel gatewayChannel;

    @BeforeAll
    static void startCluster() throws Exception {
        model = ItModel.path();
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
                "dsv2.kv-cache.tokens", "8192", "dsv2.expert-wire", "f32")); // f32: the embedded run's tokens
        services.add(router);
        router.awaitReady(Duration.ofSeconds(120));
        routerChannel = ManagedChannelBuilder.forTarget(router.grpcAddress()).usePlaintext().build();
        gateway = ServiceProcess.start("gateway", "gateway", Map.of(
                "dsv2.model.dir", model.toString(), "dsv2.gateway.router", router.grpcAddress()));
        services.add(gateway);
        gateway.awaitReady(Duration.ofSeconds(120));
        gatewayChannel = ManagedChannelBuilder.forTarget(gateway.grpcAddress()).usePlaintext().build();
    }

    @AfterAll
    static void stopCluster() throws InterruptedException {
        for (ManagedChannel c : new ManagedChannel[]{routerChannel, gatewayChannel}) {
            if (c != null) {
                c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
        for (ServiceProcess s : services) {
            s.close();
        }
    }

    static int[] prompt(int i) {
        int[] p = new int[2 + (i * 5) % 23];
        for (int j = 0; j < p.length; j++) {
            p[j] = (i * 193 + j * 31 + 7) % 100_000;
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

    @Test
    void sixteenConcurrentPublicStreamsThroughTheGatewayEqualTheEmbeddedEngine() throws Exception {
        int[][] want = embeddedTokens();
        InferenceGrpc.InferenceBlockingStub stub = InferenceGrpc.newBlockingStub(gatewayChannel);
        ExecutorService pool = Executors.newFixedThreadPool(STREAMS);
        try {
            List<Future<int[]>> got = new ArrayList<>();
            for (int i = 0; i < STREAMS; i++) {
                int n = i;
                got.add(pool.submit(() -> {
                    TokenIds.Builder ids = TokenIds.newBuilder();
                    for (int t : prompt(n)) {
                        ids.addIds(t);
                    }
                    GenerateRequest req = GenerateRequest.newBuilder().setRequestId("pub-" + n).setPromptIds(ids)
                            .setMaxTokens(MAX_TOKENS).setTemperature(0).setIgnoreEos(true).build();
                    List<Integer> out = new ArrayList<>();
                    GenerateChunk last = null;
                    Iterator<GenerateChunk> chunks = stub.withDeadlineAfter(120, TimeUnit.SECONDS).generate(req);
                    while (chunks.hasNext()) {
                        last = chunks.next();
                        out.addAll(last.getTokenIdsList());
                    }
                    assertEquals("length", last.getFinishReason(), "stream " + n);
                    assertEquals(MAX_TOKENS, last.getUsage().getCompletionTokens(), "stream " + n);
                    assertEquals(prompt(n).length, last.getUsage().getPromptTokens(), "stream " + n);
                    return out.stream().mapToInt(Integer::intValue).toArray();
                }));
            }
            for (int i = 0; i < STREAMS; i++) {
                assertArrayEquals(want[i], got.get(i).get(180, TimeUnit.SECONDS), "public stream " + i);
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
