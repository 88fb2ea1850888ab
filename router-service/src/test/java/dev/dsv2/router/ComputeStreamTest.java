package dev.dsv2.router;

import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.model.ExpertPlacement;
import dev.dsv2.engine.model.ExpertShard;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.ExpertWire;
import dev.dsv2.engine.serve.ServingException;
import dev.dsv2.testsupport.TestCheckpoints;
import dev.dsv2.testsupport.TestVectors;
import io.grpc.Status;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The router's long-lived compute streams against real shards on loopback: one stream per pod carries every layer's
 * call, each call's timeline is reported, and a shard restarted mid-run costs only the calls in flight (failed over to
 * a replica, or failed UNAVAILABLE naming the shard) while the calls after it succeed on a new stream.
 */
class ComputeStreamTest {
    private static final int D = TestCheckpoints.TINY.hiddenSize();
    private static final int TOP_K = TestCheckpoints.TINY.numExpertsPerTok();
    private static final int LAYER = 1;
    private static Path dir;
    private static VectorBackend backend;
    private static ExpertShard everything;

    @BeforeAll
    static void setUp() {
        dir = TestCheckpoints.tiny(3);
        backend = new VectorBackend(1);
        everything = ExpertShard.load(dir, backend, ExpertPlacement.all(16), false, null);
    }

    @AfterAll
    static void tearDown() {
        everything.close();
        backend.close();
    }

    /** A layer call's inputs and the all-local answer. */
    private record Layer(float[] x, int rows, int[] ids, float[] weights, float[] want) {
        static Layer random(int rows, long seed) {
            Random rnd = new Random(seed);
            float[] x = TestVectors.gaussian(rows * D, seed);
            int[] ids = new int[rows * TOP_K];
            float[] w = new float[rows * TOP_K];
            for (int r = 0; r < rows; r++) {
                int[] pick = rnd.ints(0, 16).distinct().limit(TOP_K).toArray();
                for (int k = 0; k < TOP_K; k++) {
                    ids[r * TOP_K + k] = pick[k];
                    w[r * TOP_K + k] = rnd.nextFloat() / TOP_K;
                }
            }
            float[] want = new float[rows * D];
            everything.compute(LAYER, x, rows, ids, w, TOP_K, false, want);
            return new Layer(x, rows, ids, w, want);
        }

        /** Sends the layer to the shards and checks the combined answer against the all-local one. */
        void check(RemoteExperts experts) {
            float[] got = new float[rows * D];
            experts.start(LAYER, x, rows, ids, weights, TOP_K, got).await();
            for (int i = 0; i < want.length; i++) {
                if (Math.abs(want[i] - got[i]) > 1e-5f * Math.max(1f, Math.abs(want[i]))) {
                    throw new AssertionError("element " + i + ": " + got[i] + ", all-local " + want[i]);
                }
            }
        }
    }

    private static RemoteExperts connect(ExpertShards shards, RemoteExperts.CallObserver observer)
            throws InterruptedException {
        RemoteExperts r = RemoteExperts.connect(TestCheckpoints.TINY, shards.addresses(),
                RemoteExperts.Options.defaults().withWire(ExpertWire.F32).withTimeout(Duration.ofSeconds(10)),
                observer);
        assertTrue(r.awaitReady(Duration.ofSeconds(10)), r.status());
        return r;
    }

    @Test
    void onePodKeepsOneStreamForEveryLayerCallAndEachCallReportsItsTimeline() throws Exception {
        ConcurrentLinkedQueue<CallTimeline> timelines = new ConcurrentLinkedQueue<>();
        RemoteExperts.CallObserver observer = new RemoteExperts.CallObserver() {
            @Override
            public void onCall(int shard, String endpoint, long nanos, Status.Code code) {
            }

            @Override
            public void onCallTimeline(CallTimeline timeline) {
                timelines.add(timeline);
            }
        };
        int timersBefore = ComputeStream.pendingTimeouts();
        try (ExpertShards shards = ExpertShards.start(dir, backend, 1, 1);
             RemoteExperts experts = connect(shards, observer)) {
            for (int i = 0; i < 40; i++) {
                Layer.random(1 + i % 5, i).check(experts);
            }
            assertTrue(ComputeStream.pendingTimeouts() <= timersBefore,
                    "answered calls leave no timer behind: " + ComputeStream.pendingTimeouts() + " pending, "
                            + timersBefore + " before the 80 calls");
            assertEquals(1.0, shards.streamsOpened(0), "pod 0: one stream for 40 layers");
            assertEquals(1.0, shards.streamsOpened(1), "pod 1: one stream for 40 layers");
            assertTrue(timelines.size() >= 40, "a timeline per answered call: " + timelines.size());
            for (CallTimeline t : timelines) {
                for (int p = 0; p < CallTimeline.PHASES.length; p++) {
                    assertTrue(t.phase(p) >= 0, CallTimeline.PHASES[p] + " of " + t);
                }
                assertTrue(t.computeNanos() > 0 && t.serializeNanos() > 0, t.toString());
            }
        }
    }

    @Test
    void theStreamSurvivesAShardRestartMidRun() throws Exception {
        // Pods: 0 = shard 0; 1 and 2 = the two replicas of shard 1.
        try (ExpertShards shards = ExpertShards.start(dir, backend, 1, 2);
             RemoteExperts experts = connect(shards, null)) {
            List<Layer> layers = java.util.stream.IntStream.range(0, 8).mapToObj(i -> Layer.random(3, 100 + i))
                    .toList();
            AtomicBoolean stop = new AtomicBoolean();
            AtomicInteger done = new AtomicInteger();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread load = Thread.ofPlatform().start(() -> {
                try {
                    for (int i = 0; !stop.get(); i++) {
                        layers.get(i % layers.size()).check(experts);
                        done.incrementAndGet();
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            // Calls in flight while one replica restarts fail over to its twin: the load never sees an error.
            awaitMore(done, 20, failure);
            shards.kill(1);
            awaitMore(done, 20, failure);
            shards.restart(1);
            awaitMore(done, 10, failure);
            shards.kill(2); // now only the restarted pod 1 serves shard 1: the router must have a new stream to it
            awaitMore(done, 20, failure);
            stop.set(true);
            load.join(30_000);
            if (failure.get() != null) {
                throw new AssertionError("a call failed although a replica was up", failure.get());
            }
            assertTrue(shards.streamsOpened(1) >= 1, "the restarted pod 1 got a new stream");
            assertEquals(1.0, shards.streamsOpened(0), "shard 0's stream was never interrupted");

            // With no replica left, calls fail UNAVAILABLE naming the shard; after a restart new calls succeed.
            shards.kill(1);
            ServingException e = org.junit.jupiter.api.Assertions.assertThrows(ServingException.class,
                    () -> layers.get(0).check(experts));
            assertEquals(ErrorKind.UNAVAILABLE, e.kind());
            assertTrue(e.getMessage().startsWith("expert shard 1/2 (127.0.0.1:"), e.getMessage());
            shards.restart(1);
            for (Layer l : layers) {
                l.check(experts);
            }
            assertEquals(1.0, shards.streamsOpened(0), "shard 0's stream carried every call of this test");
        }
    }

    private static void awaitMore(AtomicInteger done, int more, AtomicReference<Throwable> failure)
            throws InterruptedException {
        int target = done.get() + more;
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (done.get() < target && failure.get() == null) {
            assertTrue(System.nanoTime() < deadline, "the load stalled at " + done.get() + " calls");
            Thread.sleep(2);
        }
    }
}
