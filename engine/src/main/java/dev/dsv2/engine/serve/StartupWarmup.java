package dev.dsv2.engine.serve;

import dev.dsv2.engine.model.ExpertShard;
import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.sample.TopLogprobs;

import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * Start-up warm-up ({@code dsv2.warmup-steps}): before a service reports ready, generated work runs through the paths
 * requests take, so the JIT has compiled them and the first users do not pay for it. Measured without it
 * (bench-serving checkpoint, 4 layers, Java bf16 kernels): the first 64-token completion after readiness took 8.1 s,
 * the next ones 2.2-2.7 s.
 *
 * <p>{@link #run(BatchScheduler, int, int, Consumer)}: rounds of requests through the scheduler itself (prefill,
 * mixed steps, decode, sampling, streaming callbacks), one round per batch size in {@link #BATCHES} (capped by
 * {@code dsv2.max-running} and by what the cache holds): prompts of random ids ({@link #PROMPT_TOKENS} in the first
 * round, then {@link #SHORT_PROMPT_TOKENS}) and {@code steps} generated tokens per request in the first round, half
 * and a quarter of that in the next ({@link #STEP_DIVISORS}); greedy, sampled (temperature, top-p, top-k) and with
 * logprobs in turn.
 * Batch 1 runs the matrix-vector kernels, 16 the batched (GEMM) forms. With remote experts the calls reach the shards
 * too. {@link #shard}: the same for an expert shard's own compute path, on synthetic routings of its experts.
 *
 * <p>Warm-up never fails a start: a request that fails (a shard not reachable yet, a device error) ends it early
 * and the reason is returned (and logged by the caller); the service then starts cold.
 */
public final class StartupWarmup {
    /** Sequences decoding at once in each round: the matrix-vector path, a small batch, the GEMM path. */
    static final int[] BATCHES = {1, 4, 16};
    /**
     * Each round's share of {@code steps} generated tokens per request: a batched step runs the kernels over more
     * rows per call, so fewer steps warm them (and the batch-16 round stays short on a slow machine).
     */
    static final int[] STEP_DIVISORS = {1, 2, 4};
    /** Prompt tokens of the first round's request (a prefill of this many rows: the prefill path). */
    static final int PROMPT_TOKENS = 32;
    /** Prompt tokens of the later rounds' requests: their prefills join decode steps (mixed steps). */
    static final int SHORT_PROMPT_TOKENS = 8;
    /** Longest a round may take before its requests are aborted and the warm-up ends (a stuck device or shard). */
    static final long ROUND_TIMEOUT_SECONDS = 600;

    private StartupWarmup() {
    }

    /**
     * What a warm-up did.
     *
     * @param requests  requests completed
     * @param tokens    tokens generated
     * @param nanos     wall time
     * @param stoppedBy why it ended early, or null when every round completed
     */
    public record Result(int requests, long tokens, long nanos, String stoppedBy) {
        /** "21 requests, 672 tokens in 3.2 s" (plus "; stopped early: why"). */
        public String describe() {
            return String.format("%d requests, %d tokens in %.1f s%s", requests, tokens, nanos / 1e9,
                    stoppedBy == null ? "" : "; stopped early: " + stoppedBy);
        }
    }

    /**
     * Runs the rounds through {@code scheduler} (blocking) and returns what ran; {@code steps} 0 runs nothing.
     *
     * @param cacheTokens the scheduler's cache capacity: a round's requests must fit it at once
     * @param progress    one line per round
     */
    public static Result run(BatchScheduler scheduler, long cacheTokens, int steps, Consumer<String> progress) {
        requireSteps(steps);
        long t0 = System.nanoTime();
        if (steps == 0) {
            return new Result(0, 0, System.nanoTime() - t0, null);
        }
        BatchScheduler.Config config = scheduler.config();
        int vocab = scheduler.model().config().vocabSize();
        SplittableRandom random = new SplittableRandom(0x5eed);
        int requests = 0;
        long generated = 0;
        int lastBatch = 0;
        for (int round = 0; round < BATCHES.length; round++) {
            int prompt = Math.min(round == 0 ? PROMPT_TOKENS : SHORT_PROMPT_TOKENS,
                    Math.max(1, config.contextLimit() / 2));
            int tokens = Math.min(Math.max(1, steps / STEP_DIVISORS[round]), config.contextLimit() - prompt);
            int batch = (int) Math.min(Math.min(BATCHES[round], config.maxRunning()), cacheTokens / (prompt + tokens));
            if (batch <= lastBatch) {
                continue; // capped to a batch size already run
            }
            lastBatch = batch;
            long r0 = System.nanoTime();
            Round r = new Round(batch);
            String[] ids = new String[batch];
            try {
                for (int i = 0; i < batch; i++) {
                    int[] promptIds = new int[prompt];
                    for (int t = 0; t < prompt; t++) {
                        promptIds[t] = random.nextInt(vocab);
                    }
                    ids[i] = "dsv2-warmup-" + round + "-" + i;
                    scheduler.submit(ids[i], promptIds, params(i, tokens), r);
                }
                if (!r.done.await(ROUND_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                    r.fail("round of batch " + batch + " did not finish within " + ROUND_TIMEOUT_SECONDS + " s");
                }
            } catch (ServingException e) {
                r.fail(e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                r.fail("interrupted");
            }
            requests += r.completed.get();
            generated += r.tokens.get();
            String failure = r.failure.get();
            if (failure != null) {
                for (String id : ids) {
                    if (id != null) {
                        scheduler.abort(id);
                    }
                }
                return new Result(requests, generated, System.nanoTime() - t0, failure);
            }
            progress.accept(String.format("warm-up: batch %d, %d tokens each, in %.1f s", batch, tokens,
                    (System.nanoTime() - r0) / 1e9));
        }
        return new Result(requests, generated, System.nanoTime() - t0, null);
    }

    /** Request i of a round: greedy, sampled, or sampled with top-5 logprobs, in turn. */
    private static SamplingParams params(int i, int tokens) {
        SamplingParams.Builder b = SamplingParams.builder().maxTokens(tokens).ignoreEos(true);
        return switch (i % 3) {
            case 0 -> b.temperature(0).build();
            case 1 -> b.temperature(0.8).topP(0.95).topK(40).seed(i).build();
            default -> b.temperature(1.0).seed(i).logprobs(5).build();
        };
    }

    /** One round's requests: counts what completed, keeps the first failure, counts down when all have ended. */
    private static final class Round implements GenerationListener {
        final CountDownLatch done;
        final AtomicInteger completed = new AtomicInteger();
        final AtomicInteger tokens = new AtomicInteger();
        final AtomicReference<String> failure = new AtomicReference<>();

        Round(int requests) {
            done = new CountDownLatch(requests);
        }

        void fail(String why) {
            failure.compareAndSet(null, why);
        }

        @Override
        public void onToken(int tokenId, float logprob, TopLogprobs top) {
            tokens.incrementAndGet();
        }

        @Override
        public void onComplete(FinishReason reason, int promptTokens, int completionTokens) {
            completed.incrementAndGet();
            done.countDown();
        }

        @Override
        public void onError(ErrorKind kind, String message) {
            fail(kind + ": " + message);
            done.countDown();
        }
    }

    /**
     * An expert shard's warm-up: for each batch size of {@link #BATCHES}, {@code steps} calls of every MoE layer it
     * holds (half and a quarter of that at 4 and 16 rows, as {@link #STEP_DIVISORS}), on rows of random activations
     * routed top-k over its own experts (the shared experts included when it holds them). Blocking; a failure ends it
     * early with the reason.
     */
    public static Result shard(ExpertShard shard, int steps, Consumer<String> progress) {
        requireSteps(steps);
        long t0 = System.nanoTime();
        int hidden = shard.config().hiddenSize();
        int topK = shard.config().numExpertsPerTok();
        SplittableRandom random = new SplittableRandom(0x5eed);
        int done = 0;
        try {
            for (int round = 0; round < BATCHES.length; round++) {
                int rows = BATCHES[round];
                int calls = Math.max(1, steps / STEP_DIVISORS[round]);
                long r0 = System.nanoTime();
                float[] x = new float[rows * hidden];
                float[] out = new float[rows * hidden];
                int[] ids = new int[rows * topK];
                float[] weights = new float[rows * topK];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) random.nextGaussian();
                }
                for (int step = 0; step < calls; step++) {
                    for (int layer = 0; layer < shard.config().numHiddenLayers(); layer++) {
                        if (!shard.isMoeLayer(layer)) {
                            continue;
                        }
                        route(shard.placement().owned(layer), rows, topK, random, ids, weights);
                        shard.compute(layer, x, rows, ids, weights, topK, shard.holdsShared(), out);
                        done++;
                    }
                }
                progress.accept(String.format("warm-up: %d rows, %d calls per layer, in %.1f s", rows, calls,
                        (System.nanoTime() - r0) / 1e9));
            }
        } catch (RuntimeException e) {
            return new Result(done, 0, System.nanoTime() - t0, e.toString());
        }
        return new Result(done, 0, System.nanoTime() - t0, null);
    }

    private static void requireSteps(int steps) {
        if (steps < 0) {
            throw new IllegalArgumentException(ServingSettings.describeKey(ServingSettings.WARMUP_STEPS)
                    + " must be >= 0, got " + steps);
        }
    }

    /** Each row's top-k: distinct experts of {@code owned} while there are enough, the rest skipped. */
    private static void route(int[] owned, int rows, int topK, SplittableRandom random, int[] ids, float[] weights) {
        for (int r = 0; r < rows; r++) {
            int start = owned.length == 0 ? 0 : random.nextInt(owned.length);
            for (int k = 0; k < topK; k++) {
                int slot = r * topK + k;
                ids[slot] = k < owned.length ? owned[(start + k) % owned.length] : ExpertShard.SKIP;
                weights[slot] = 1f / topK;
            }
        }
    }
}
