package dev.dsv2.engine.model;

import dev.dsv2.engine.cache.CacheSequence;
import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.generate.Generator;
import dev.dsv2.engine.generate.TokenListener;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.engine.serve.BatchScheduler;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.GenerationListener;
import dev.dsv2.engine.serve.MicroBatches;
import dev.dsv2.testsupport.TestCheckpoints;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two micro-batches in flight: with experts that compute asynchronously (on another thread, as remote shards do),
 * the attention of one micro-batch runs while the other's experts compute, and the results equal the plain forward.
 */
class OverlappedMicroBatchTest {
    private static VectorBackend backend;
    private static ExecutorService expertThreads;
    private static final AtomicInteger overlapped = new AtomicInteger();
    private static DeepseekV2Model model;
    private static DeepseekV2Model plain;

    /** Routed experts computed on another thread; counts calls that were still running when the caller moved on. */
    record AsyncExperts(LocalExperts local) implements HostRoutedExperts {
        @Override
        public void compute(int layer, float[] x, int rows, int[] ids, float[] weights, int topK, float[] out) {
            start(layer, x, rows, ids, weights, topK, out).await();
        }

        @Override
        public Pending start(int layer, float[] x, int rows, int[] ids, float[] weights, int topK, float[] out) {
            CompletableFuture<Void> f = CompletableFuture.runAsync(() -> {
                sleepMillis(2);
                local.compute(layer, x, rows, ids, weights, topK, out);
            }, expertThreads);
            return () -> {
                if (!f.isDone()) {
                    overlapped.incrementAndGet();
                }
                f.join();
            };
        }
    }

    static void sleepMillis(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @BeforeAll
    static void load() {
        backend = new VectorBackend(2);
        expertThreads = Executors.newFixedThreadPool(2);
        Path dir = TestCheckpoints.preset("tiny", 9);
        ModelConfig c = ModelConfig.load(dir);
        model = DeepseekV2Model.load(dir, backend, null, ckpt -> new AsyncExperts(
                new LocalExperts(backend, ModelLoader.localExperts(c, new ModelLoader.Names(ckpt)), c.hiddenSize())),
                true);
        plain = DeepseekV2Model.load(dir, backend, null);
    }

    @AfterAll
    static void close() {
        model.close();
        plain.close();
        expertThreads.shutdown();
        backend.close();
    }

    @Test
    void overlappedMicroBatchesEqualThePlainForward() {
        assertTrue(model.expertsAreRemote());
        int[] a = {3, 14, 15, 92, 65};
        int[] b = {27, 18};
        LatentKvCache cache = LatentKvCache.forTokens(model.config(), 256);
        CacheSequence sa = cache.newSequence();
        CacheSequence sb = cache.newSequence();
        assertTrue(cache.reserve(sa, a.length) && cache.reserve(sb, b.length));
        float[][] both = model.forwardOverlapped(ForwardBatch.single(sa, a, 0), new Workspace(backend),
                ForwardBatch.single(sb, b, 0), new Workspace(backend), cache, AttentionMode.AUTO);
        int vocab = model.config().vocabSize();
        for (int[] prompt : List.of(a, b)) {
            LatentKvCache c2 = LatentKvCache.forTokens(plain.config(), 64);
            CacheSequence s = c2.newSequence();
            assertTrue(c2.reserve(s, prompt.length));
            float[] want = Arrays.copyOf(plain.forward(ForwardBatch.single(s, prompt, 0), c2, AttentionMode.AUTO,
                    new Workspace(backend)), vocab);
            float[] got = Arrays.copyOf(both[prompt == a ? 0 : 1], vocab);
            for (int i = 0; i < vocab; i++) {
                assertEquals(want[i], got[i], 1e-4, "logit " + i);
            }
        }
        assertTrue(overlapped.get() > 0, "some expert calls were still in flight while the other micro-batch ran");
    }

    @ParameterizedTest
    @EnumSource(MicroBatches.class)
    void everyMicroBatchPolicyGivesTheTokensOfOneSequenceAlone(MicroBatches policy) throws Exception {
        LatentKvCache cache = LatentKvCache.forTokens(model.config(), 2048);
        int n = 6;
        List<CompletableFuture<int[]>> results = new ArrayList<>();
        try (BatchScheduler s = new BatchScheduler(model, cache, new BatchScheduler.Config(64, 32, 32, 512, policy))) {
            for (int i = 0; i < n; i++) {
                CompletableFuture<int[]> done = new CompletableFuture<>();
                results.add(done);
                List<Integer> ids = new ArrayList<>();
                s.submit("m" + i, prompt(i), params(), new GenerationListener() {
                    @Override
                    public void onToken(int tokenId, float logprob, TopLogprobs top) {
                        ids.add(tokenId);
                    }

                    @Override
                    public void onComplete(FinishReason reason, int promptTokens, int completionTokens) {
                        done.complete(ids.stream().mapToInt(Integer::intValue).toArray());
                    }

                    @Override
                    public void onError(ErrorKind kind, String message) {
                        done.completeExceptionally(new AssertionError(kind + ": " + message));
                    }
                });
            }
            Generator alone = new Generator(plain, LatentKvCache.forTokens(plain.config(), 128));
            for (int i = 0; i < n; i++) {
                assertArrayEquals(alone.generate(prompt(i), params(), null, TokenListener.NONE).outputIds(),
                        results.get(i).get(60, TimeUnit.SECONDS), "request " + i);
            }
            long split = s.stats().splitSteps();
            long steps = s.stats().steps();
            switch (policy) {
                case ONE -> assertEquals(0, split, "1 never splits");
                // auto measures both choices first: it alternates while it warms up
                case AUTO -> assertTrue(split > 0 && split < steps, split + " of " + steps + " steps split");
                // every step of two or more sequences (a step may run before the others arrive)
                case TWO -> assertTrue(split > 0, split + " of " + steps + " steps split");
            }
        }
    }

    private static SamplingParams params() {
        return SamplingParams.greedy(6).toBuilder().ignoreEos(true).build();
    }

    private static int[] prompt(int i) {
        int[] p = new int[4 + i];
        for (int j = 0; j < p.length; j++) {
            p[j] = (i * 37 + j * 11) % 1000;
        }
        return p;
    }
}
