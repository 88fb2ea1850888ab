package dev.dsv2.router;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.generate.Generator;
import dev.dsv2.engine.generate.TokenListener;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.model.ExpertPlacement;
import dev.dsv2.engine.model.ExpertShard;
import dev.dsv2.engine.model.LocalExperts;
import dev.dsv2.engine.model.Workspace;
import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.serve.BatchScheduler;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.ExpertWire;
import dev.dsv2.engine.serve.ServingException;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.testsupport.CollectingListener;
import dev.dsv2.testsupport.TestCheckpoints;
import io.grpc.Status;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * RemoteExperts against real expert shards on loopback: the same layer outputs and the same greedy tokens as
 * everything in-process, replica failover mid-stream, a clear UNAVAILABLE when a shard is gone, recovery when it
 * returns, and discovery that waits for every shard.
 */
class RemoteExpertsTest {
    private static final int D = TestCheckpoints.TINY.hiddenSize();
    private static final int TOP_K = TestCheckpoints.TINY.numExpertsPerTok();
    private static Path dir;
    private static VectorBackend backend;
    private static ExpertShard everything;
    private static DeepseekV2Model localModel;

    @BeforeAll
    static void setUp() {
        dir = TestCheckpoints.tiny(3);
        backend = new VectorBackend(1);
        everything = ExpertShard.load(dir, backend, ExpertPlacement.all(16), true, null);
        localModel = DeepseekV2Model.load(dir, backend, null);
    }

    @AfterAll
    static void tearDown() {
        localModel.close();
        everything.close();
        backend.close();
    }

    private record Routing(float[] x, int rows, int[] ids, float[] weights) {
    }

    private static Routing routing(int rows, long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[rows * D];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        int[] ids = new int[rows * TOP_K];
        float[] w = new float[rows * TOP_K];
        for (int r = 0; r < rows; r++) {
            // Row 0 uses shard 0's experts only, so shard 1 gets a strict subset of the rows.
            int[] pick = r == 0 ? new int[]{0, 1, 2, 3, 4, 5} : rnd.ints(0, 16).distinct().limit(TOP_K).toArray();
            for (int k = 0; k < TOP_K; k++) {
                ids[r * TOP_K + k] = pick[k];
                w[r * TOP_K + k] = rnd.nextFloat() / TOP_K;
            }
        }
        return new Routing(x, rows, ids, w);
    }

    private static float[] local(LocalExperts experts, Routing r, float[] x) {
        float[] out = new float[r.rows * D];
        experts.compute(1, x, r.rows, r.ids, r.weights, TOP_K, out);
        return out;
    }

    private static float[] remote(RemoteExperts experts, Routing r) {
        float[] out = new float[r.rows * D];
        java.util.Arrays.fill(out, Float.NaN); // await must overwrite every element
        experts.start(1, r.x, r.rows, r.ids, r.weights, TOP_K, out).await();
        return out;
    }

    private static RemoteExperts connect(ExpertShards shards, RemoteExperts.Options options) throws InterruptedException {
        RemoteExperts r = RemoteExperts.connect(TestCheckpoints.TINY, shards.addresses(), options, null);
        assertTrue(r.awaitReady(Duration.ofSeconds(10)), r.status());
        return r;
    }

    private static void assertClose(float[] want, float[] got, float relTol, String what) {
        float scale = 0;
        for (float v : want) {
            scale = Math.max(scale, Math.abs(v));
        }
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], relTol * Math.max(1f, scale), what + ", element " + i);
        }
    }

    @Test
    void twoShardsOnAnF32WireGiveTheLocalLayerOutputToWithin1e5() throws Exception {
        try (ExpertShards shards = ExpertShards.start(dir, backend, 1, 1);
             RemoteExperts remote = connect(shards, RemoteExperts.Options.defaults().withWire(ExpertWire.F32))) {
            for (long seed = 1; seed <= 3; seed++) {
                Routing r = routing(7, seed);
                assertClose(local(everything.routed(), r, r.x), remote(remote, r), 1e-5f, "f32 wire seed " + seed);
            }
        }
    }

    @Test
    void onABf16WireTheShardsComputeOnBf16RoundedRowsAndAnswerBf16RoundedSums() throws Exception {
        try (ExpertShards shards = ExpertShards.start(dir, backend, 1, 1);
             RemoteExperts remote = connect(shards, RemoteExperts.Options.defaults().withWire(ExpertWire.BF16))) {
            assertEquals(ExpertWire.BF16, RemoteExperts.Options.defaults().wire(), "bf16 is the default");
            Routing r = routing(7, 4);
            float[] rounded = r.x.clone();
            for (int i = 0; i < rounded.length; i++) {
                rounded[i] = Bf16.toFloat(Bf16.fromFloat(rounded[i]));
            }
            float[] got = remote(remote, r);
            // Two partial sums, each rounded to bf16 (relative error <= 2^-9): within 2 * 2^-9 of the largest value.
            assertClose(local(everything.routed(), r, rounded), got, 0x1p-8f, "vs local on bf16-rounded input");
            float[] exact = local(everything.routed(), r, r.x);
            assertClose(exact, got, 2e-2f, "vs local on float32 input, within bf16 rounding");
            assertFalse(java.util.Arrays.equals(exact, got), "the rows really travelled as bf16");
        }
    }

    @Test
    void sharedExpertsOnTheShardsAreAddedExactlyOnce() throws Exception {
        try (ExpertShards shards = ExpertShards.start(dir, backend, 1, 1);
             RemoteExperts remote = connect(shards, RemoteExperts.Options.defaults().withWire(ExpertWire.F32)
                     .withSharedOnShards(true))) {
            Routing r = routing(5, 6);
            float[] want = local(everything.routed(), r, r.x);
            float[] shared = new float[r.rows * D];
            everything.shared(1).forward(backend, backend.wrapHost(r.x, r.rows * D), r.rows,
                    backend.wrapHost(shared, r.rows * D), new Workspace(backend));
            for (int i = 0; i < want.length; i++) {
                want[i] += shared[i];
            }
            assertClose(want, remote(remote, r), 1e-5f, "routed + shared");
        }
    }

    private static int[] prompt(int i) {
        int n = 4 + (i * 5) % 17;
        int[] p = new int[n];
        for (int j = 0; j < n; j++) {
            p[j] = (i * 97 + j * 31 + 7) % TestCheckpoints.TINY.vocabSize();
        }
        return p;
    }

    private static SamplingParams greedy(int n) {
        return SamplingParams.greedy(n).toBuilder().ignoreEos(true).build();
    }

    private static int[] localGreedy(int[] prompt, int n) {
        return new Generator(localModel, LatentKvCache.forTokens(localModel.config(), 512))
                .generate(prompt, greedy(n), null, TokenListener.NONE).outputIds();
    }

    private static RouterEngine router(ExpertShards shards, RouterEngine.SharedExperts shared) throws Exception {
        RouterEngine engine = RouterEngine.create(RouterEngine.Settings.local(dir, 1)
                .withExperts(shards.addresses(), shared, ExpertWire.F32).withCache(4096, 1024), null);
        engine.load(null);
        assertTrue(engine.remote().awaitReady(Duration.ofSeconds(10)), engine.state());
        assertTrue(engine.awaitReady(Duration.ofSeconds(60)), "ready once the start-up warm-up has ended: "
                + engine.state());
        return engine;
    }

    @Test
    void greedyTokensThroughTheSchedulerEqualTheAllLocalModelForSeveralPrompts() throws Exception {
        try (ExpertShards shards = ExpertShards.start(dir, backend, 1, 1)) {
            for (RouterEngine.SharedExperts placement : RouterEngine.SharedExperts.values()) {
                try (RouterEngine engine = router(shards, placement)) {
                    BatchScheduler s = engine.scheduler();
                    List<CollectingListener> cs = new ArrayList<>();
                    for (int i = 0; i < 4; i++) {
                        CollectingListener c = new CollectingListener();
                        cs.add(c);
                        s.submit("p" + i, prompt(i), greedy(10), c);
                    }
                    for (int i = 0; i < 4; i++) {
                        assertEquals(FinishReason.LENGTH, cs.get(i).done.get(60, TimeUnit.SECONDS),
                                "request " + i + ": " + cs.get(i).errorMessage);
                        assertArrayEquals(localGreedy(prompt(i), 10), cs.get(i).ids(),
                                "prompt " + i + ", shared experts " + placement);
                    }
                }
            }
        }
    }

    @Test
    void aReplicaKilledMidStreamIsReplacedByItsTwinAndTheTokensDoNotChange() throws Exception {
        // Pods: 0 = shard 0; 1 and 2 = two replicas of shard 1.
        try (ExpertShards shards = ExpertShards.start(dir, backend, 1, 2)) {
            ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
            RouterEngine engine = RouterEngine.create(RouterEngine.Settings.local(dir, 1)
                    .withExperts(shards.addresses(), RouterEngine.SharedExperts.LOCAL, ExpertWire.F32)
                    .withCache(4096, 1024), (shard, endpoint, nanos, code) -> {
                        if (code != Status.Code.OK) {
                            failures.add(endpoint + " " + code);
                        }
                    });
            try (engine) {
                engine.load(null);
                assertTrue(engine.remote().awaitReady(Duration.ofSeconds(10)), engine.state());
                assertTrue(engine.awaitReady(Duration.ofSeconds(60)), engine.state());
                assertTrue(engine.remote().status().contains("shard 1/2") && engine.remote().status()
                        .contains(shards.addresses().get(2)), engine.remote().status());
                CollectingListener c = new CollectingListener(3);
                engine.scheduler().submit("r", prompt(1), greedy(40), c);
                assertTrue(c.firstTokens.await(30, TimeUnit.SECONDS));
                shards.kill(1);
                assertEquals(FinishReason.LENGTH, c.done.get(60, TimeUnit.SECONDS), c.errorMessage);
                assertArrayEquals(localGreedy(prompt(1), 40), c.ids());
                assertTrue(failures.stream().anyMatch(f -> f.startsWith(shards.addresses().get(1))),
                        "the killed replica was tried and failed over: " + failures);
            }
        }
    }

    @Test
    void withoutAReplicaTheRequestFailsUnavailableNamingTheShardAndARestartedShardServesAgain() throws Exception {
        try (ExpertShards shards = ExpertShards.start(dir, backend, 1, 1);
             RouterEngine engine = router(shards, RouterEngine.SharedExperts.LOCAL)) {
            CollectingListener c = new CollectingListener(3);
            engine.scheduler().submit("doomed", prompt(2), greedy(200), c);
            assertTrue(c.firstTokens.await(30, TimeUnit.SECONDS));
            shards.kill(1);
            assertEquals(FinishReason.ERROR, c.done.get(60, TimeUnit.SECONDS));
            assertEquals(ErrorKind.UNAVAILABLE, c.error);
            // The cause is UNAVAILABLE (connection gone) or CANCELLED (the pod cancelled the call as it stopped).
            assertTrue(c.errorMessage.startsWith("expert shard 1/2 (127.0.0.1:" + shards.port(1) + ") is unreachable: "),
                    c.errorMessage);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (engine.scheduler().stats().usedBlocks() != 0) { // stats are published after the failed step
                assertTrue(System.nanoTime() < deadline, "the failed request's blocks are freed");
                Thread.sleep(5);
            }

            CollectingListener meanwhile = new CollectingListener();
            engine.scheduler().submit("meanwhile", prompt(3), greedy(5), meanwhile);
            assertEquals(FinishReason.ERROR, meanwhile.done.get(60, TimeUnit.SECONDS), "still down");

            shards.restart(1);
            CollectingListener after = new CollectingListener();
            engine.scheduler().submit("after", prompt(3), greedy(12), after);
            assertEquals(FinishReason.LENGTH, after.done.get(60, TimeUnit.SECONDS), after.errorMessage);
            assertArrayEquals(localGreedy(prompt(3), 12), after.ids());
        }
    }

    @Test
    void discoveryWaitsForEveryShardAndNamesTheMissingOne() throws Exception {
        try (ExpertShards shards = ExpertShards.start(dir, backend, 1, 1)) {
            shards.kill(1);
            try (RemoteExperts remote = RemoteExperts.connect(TestCheckpoints.TINY, shards.addresses(),
                    RemoteExperts.Options.defaults(), null)) {
                assertFalse(remote.awaitReady(Duration.ofMillis(600)));
                assertTrue(remote.status().contains("missing expert shard 1/2"), remote.status());
                assertTrue(remote.status().contains(shards.addresses().get(1) + " (UNAVAILABLE"), remote.status());
                Routing r = routing(2, 1);
                ServingException e = assertThrows(ServingException.class,
                        () -> remote.start(1, r.x, r.rows, r.ids, r.weights, TOP_K, new float[r.rows * D]));
                assertEquals(ErrorKind.UNAVAILABLE, e.kind());
                assertTrue(e.getMessage().contains("missing expert shard 1/2"), e.getMessage());
                shards.restart(1);
                assertTrue(remote.awaitReady(Duration.ofSeconds(10)), remote.status());
                assertClose(local(everything.routed(), r, r.x), remote(remote, r), 2e-2f, "after discovery");
            }
        }
    }

    @Test
    void badExpertListsAreRefusedNamingTheKey() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RemoteExperts.connect(
                TestCheckpoints.TINY, List.of("expert-0:9090", "nonsense"), RemoteExperts.Options.defaults(), null));
        assertTrue(e.getMessage().contains("dsv2.router.experts") && e.getMessage().contains("'nonsense'"),
                e.getMessage());
        IllegalArgumentException dup = assertThrows(IllegalArgumentException.class, () -> RemoteExperts.connect(
                TestCheckpoints.TINY, List.of("a:1", "a:1"), RemoteExperts.Options.defaults(), null));
        assertTrue(dup.getMessage().contains("twice"), dup.getMessage());
    }
}
