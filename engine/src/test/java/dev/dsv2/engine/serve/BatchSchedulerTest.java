package dev.dsv2.engine.serve;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.generate.GenerationResult;
import dev.dsv2.engine.generate.Generator;
import dev.dsv2.engine.generate.TokenListener;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.testsupport.CollectingListener;
import dev.dsv2.testsupport.TestCheckpoints;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Continuous batching: same tokens as one-at-a-time generation, admission control, preemption, abort. */
class BatchSchedulerTest {
    private static VectorBackend backend;
    private static DeepseekV2Model model;

    @BeforeAll
    static void load() {
        backend = new VectorBackend(2);
        model = DeepseekV2Model.load(TestCheckpoints.preset("tiny", 5), backend, null);
    }

    @AfterAll
    static void close() {
        model.close();
        backend.close();
    }

    private static int[] prompt(int i) {
        int n = 3 + (i * 7) % 40;
        int[] p = new int[n];
        for (int j = 0; j < n; j++) {
            p[j] = (i * 131 + j * 17) % model.config().vocabSize();
        }
        return p;
    }

    private static SamplingParams greedy(int maxTokens) {
        return SamplingParams.greedy(maxTokens).toBuilder().ignoreEos(true).build();
    }

    /**
     * Submits requests {@code 0..n-1} ({@link #prompt}, {@code params.get(i)}) to one scheduler at once, then checks
     * each against the same request generated alone: the same tokens, and logprobs within the batched forward pass's
     * rounding (its logits are not bit-identical to one row alone's); every cache block freed at the end.
     */
    private static void assertBatchedEqualsAlone(List<SamplingParams> params) throws Exception {
        int n = params.size();
        LatentKvCache cache = LatentKvCache.forTokens(model.config(), 4096);
        try (BatchScheduler s = new BatchScheduler(model, cache, new BatchScheduler.Config(32, 64, 64, 1024))) {
            List<CollectingListener> cs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                CollectingListener c = new CollectingListener();
                cs.add(c);
                s.submit("r" + i, prompt(i), params.get(i), c);
            }
            Generator alone = new Generator(model, LatentKvCache.forTokens(model.config(), 256));
            for (int i = 0; i < n; i++) {
                assertEquals(FinishReason.LENGTH, cs.get(i).done.get(60, TimeUnit.SECONDS));
                GenerationResult want = alone.generate(prompt(i), params.get(i), null, TokenListener.NONE);
                assertArrayEquals(want.outputIds(), cs.get(i).ids(), "request " + i);
                if (params.get(i).logprobs() > 0) {
                    float[] got = new float[cs.get(i).logprobs.size()];
                    for (int t = 0; t < got.length; t++) {
                        got[t] = cs.get(i).logprobs.get(t);
                    }
                    assertArrayEquals(want.tokenLogprobs(), got, 1e-4f, "request " + i + " logprobs");
                }
            }
            assertEquals(0, cache.usedBlocks(), "every block is freed");
        }
    }

    @Test
    void concurrentRequestsGetTheSameTokensAsOneAtATime() throws Exception {
        List<SamplingParams> params = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            params.add(greedy(8 + i % 5));
        }
        assertBatchedEqualsAlone(params);
    }

    /**
     * The scheduler samples a batch's rows at once on the backend's two threads: each seeded, sampled request still
     * gets the tokens and logprobs it gets alone (one sampler per request, the same draws in the same order; a row
     * sampled with another request's sampler or logits would draw other tokens).
     */
    @Test
    void sampledRequestsGetTheSameTokensAndLogprobsAsOneAtATime() throws Exception {
        List<SamplingParams> params = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            SamplingParams.Builder b = SamplingParams.builder().temperature(0.7 + 0.05 * i).seed(1000 + i)
                    .maxTokens(8 + i % 5).ignoreEos(true).logprobs(2);
            params.add((i % 3 == 0 ? b.topP(0.9) : i % 3 == 1 ? b.topK(40) : b).build());
        }
        assertBatchedEqualsAlone(params);
    }

    @Test
    void whenTheCacheIsFullRequestsWaitAndNoneFails() throws Exception {
        // 6 blocks of 16 tokens: room for about two requests at a time; 10 requests must all complete.
        LatentKvCache cache = new LatentKvCache(model.config(), 6, 16);
        try (BatchScheduler s = new BatchScheduler(model, cache, new BatchScheduler.Config(64, 64, 64, 1024))) {
            List<CollectingListener> cs = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                CollectingListener c = new CollectingListener();
                cs.add(c);
                s.submit("w" + i, prompt(i), greedy(20), c);
            }
            Generator alone = new Generator(model, LatentKvCache.forTokens(model.config(), 256));
            for (int i = 0; i < 10; i++) {
                assertEquals(FinishReason.LENGTH, cs.get(i).done.get(60, TimeUnit.SECONDS), "request " + i
                        + " error: " + cs.get(i).errorMessage);
                assertArrayEquals(alone.generate(prompt(i), greedy(20), null, TokenListener.NONE).outputIds(),
                        cs.get(i).ids(), "request " + i + " after waiting/preemption");
            }
            assertEquals(0, cache.usedBlocks());
            assertTrue(s.stats().preemptions() > 0, "the scenario exercises preemption: " + s.stats());
        }
    }

    @Test
    void aRequestThatCanNeverFitIsRefusedAtOnce() {
        LatentKvCache cache = new LatentKvCache(model.config(), 2, 16);
        try (BatchScheduler s = new BatchScheduler(model, cache, BatchScheduler.Config.defaults(1024))) {
            ServingException e = assertThrows(ServingException.class,
                    () -> s.submit("big", prompt(5), greedy(100), new CollectingListener()));
            assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind());
            assertTrue(e.getMessage().contains("32 tokens"), e.getMessage());
        }
    }

    @Test
    void aPromptOverTheContextLimitIsRefusedNamingTheLimit() {
        LatentKvCache cache = LatentKvCache.forTokens(model.config(), 1024);
        try (BatchScheduler s = new BatchScheduler(model, cache, BatchScheduler.Config.defaults(16))) {
            ServingException e = assertThrows(ServingException.class,
                    () -> s.submit("long", new int[20], greedy(4), new CollectingListener()));
            assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind());
            assertTrue(e.getMessage().contains("20 tokens") && e.getMessage().contains("16"), e.getMessage());
        }
    }

    @Test
    void abortEndsTheStreamAndFreesItsBlocks() throws Exception {
        LatentKvCache cache = LatentKvCache.forTokens(model.config(), 4096);
        try (BatchScheduler s = new BatchScheduler(model, cache, BatchScheduler.Config.defaults(2048))) {
            CountDownLatch started = new CountDownLatch(3);
            CollectingListener c = new CollectingListener() {
                @Override
                public synchronized void onToken(int tokenId, float logprob, TopLogprobs top) {
                    super.onToken(tokenId, logprob, top);
                    started.countDown();
                }
            };
            s.submit("a", prompt(1), greedy(1000), c);
            assertTrue(started.await(30, TimeUnit.SECONDS));
            assertTrue(s.abort("a"));
            assertEquals(FinishReason.ABORT, c.done.get(30, TimeUnit.SECONDS));
            assertTrue(c.ids().length < 1000);
            assertEquals(0, cache.usedBlocks());
            assertTrue(!s.abort("a"), "an ended request is no longer found");
        }
    }

    @Test
    void duplicateRequestIdsAreRefused() {
        LatentKvCache cache = LatentKvCache.forTokens(model.config(), 4096);
        try (BatchScheduler s = new BatchScheduler(model, cache, BatchScheduler.Config.defaults(2048))) {
            s.submit("same", prompt(1), greedy(500), new CollectingListener());
            ServingException e = assertThrows(ServingException.class,
                    () -> s.submit("same", prompt(2), greedy(5), new CollectingListener()));
            assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind());
            s.abort("same");
        }
    }

    @Test
    void requestsSharingAPrefixReuseItsCacheBlocksAndGetTheSameTokens() throws Exception {
        LatentKvCache cache = new LatentKvCache(model.config(), 64, 16);
        int[] system = new int[40];
        for (int j = 0; j < system.length; j++) {
            system[j] = (j * 29 + 3) % model.config().vocabSize();
        }
        Generator alone = new Generator(model, LatentKvCache.forTokens(model.config(), 256));
        try (BatchScheduler s = new BatchScheduler(model, cache, BatchScheduler.Config.defaults(1024))) {
            for (int i = 0; i < 4; i++) {
                int[] p = java.util.Arrays.copyOf(system, system.length + 3);
                p[40] = 100 + i;
                p[41] = 200 + i;
                p[42] = 300 + i;
                CollectingListener c = new CollectingListener();
                s.submit("p" + i, p, greedy(6), c);
                assertEquals(FinishReason.LENGTH, c.done.get(60, TimeUnit.SECONDS));
                assertArrayEquals(alone.generate(p, greedy(6), null, TokenListener.NONE).outputIds(), c.ids(),
                        "request " + i + " with a reused prefix");
            }
            assertEquals(3 * 32, cache.prefixHitTokens(), "requests 1..3 each reuse the two full 16-token blocks");
            assertEquals(0, cache.usedBlocks());
        }
    }
}
