package dev.dsv2.engine.sample;

import java.security.SecureRandom;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Chooses the next token of one request from a row of logits; one instance per request, not thread-safe.
 *
 * <p>Input: {@code logits[offset .. offset+vocab)}, token id {@code i} at {@code logits[offset+i]} (so one
 * {@code [batch, vocab]} array serves a whole batch). Logits must be finite or -Infinity (a masked token).
 *
 * <p>Temperature 0 is greedy: the argmax, the lowest id among equal maxima, and no random draw. Otherwise, in this
 * order (the order of vLLM and HF {@code generate}):
 * <ol>
 *   <li>scale by {@code 1/T} and softmax in double: {@code w_i = exp((x_i - max) / T)} (see {@link SoftmaxKernel});
 *   <li>top-k (when {@code topK > 0}): keep the {@code k} tokens of highest probability;
 *   <li>top-p (when {@code topP < 1}): of those, keep the smallest set of highest-probability tokens whose cumulative
 *       probability reaches {@code p} (at least one token);
 *   <li>renormalise over the kept tokens and draw one with the request's random number generator.
 * </ol>
 * Ranks break equal probabilities by lower token id. As {@code T -> 0} sampling tends to the uniform choice among the
 * maximal logits (temperatures below 1e-60 already give exactly that); only {@code T == 0} is greedy.
 *
 * <p>Randomness: {@link SplittableRandom} seeded with {@link SamplingParams#seed()}, or once from
 * {@link SecureRandom} when there is none. Every non-greedy {@link #sample} consumes exactly one
 * {@code nextDouble()} {@code u} in [0, 1) and returns the first kept token at which the running sum of kept
 * weights exceeds {@code u} times their total (in rank order on the heap paths, in id order on the full-row path).
 * All arithmetic is bit-reproducible and the path taken depends only on the logits and parameters, so a seed gives
 * the same tokens on every run, JVM and CPU for the same logits.
 *
 * <p>Work per row, never a sort of the vocab. Every non-greedy call: a vector pass for the max. Then one of
 * <ul>
 *   <li>top-k up to {@value #HEAP_TOP_K}: a bounded heap over the logits ({@link TopKSelector}), weights for
 *       those {@code k} tokens only, top-p and the draw over them in rank order;
 *   <li>top-p alone: a vector pass for {@code Z}, then the heap for the best {@value #NUCLEUS_PROBE} tokens; when
 *       they already reach {@code p * Z} (the usual shape of a language model's distribution) the nucleus is among
 *       them and the draw is over them;
 *   <li>otherwise (no filter, a larger top-k, a flatter distribution): a vector pass writes every weight, then,
 *       with a filter, {@link RankCutoff} finds the cut from a histogram, and a blocked pass draws.
 * </ul>
 * Measured for a 129,280-token row on one core of the 2-vCPU build machine (busy; CPU time): greedy 0.05 ms;
 * temperature only 0.16 ms; top-k 50 (with or without top-p) 0.08 ms; top-p 0.9 0.2 ms on a peaked row and
 * 0.7 ms on a flat one. Scratch (a vocab-sized weight array, allocated at the first full-row call) is kept
 * between calls.
 */
public final class Sampler {
    /** Top-k values up to this use the bounded heap; larger ones the histogram cut. */
    static final int HEAP_TOP_K = 1024;
    /** Top-p alone first ranks this many tokens; when they hold p of the mass the nucleus is among them. */
    static final int NUCLEUS_PROBE = 128;

    private static final SecureRandom SEED_SOURCE = new SecureRandom();

    private final SamplingParams params;
    private final SplittableRandom random;
    private final double invTemperature;

    /** Full-row path: weights of every token and the cut. */
    private double[] weights = new double[0];
    private RankCutoff cutoff;
    /** Token {@code i} of weight {@code w > 0} is kept iff {@code w > cutWeight || (w == cutWeight && i <= cutId)}. */
    private double cutWeight;
    private int cutId;
    /** Heap path: ranked ids and their weights; {@code rankedKept} of them survive top-p. */
    private int[] rankedIds = new int[0];
    private double[] rankedWeights = new double[0];
    private int rankedKept;
    /** Total weight of the kept tokens, either path. */
    private double keptMass;

    /** @throws IllegalArgumentException when temperature or top_p is out of range (see {@link SamplingParams#validate}) */
    public Sampler(SamplingParams params) {
        this.params = Objects.requireNonNull(params, "params");
        params.checkSamplerRanges();
        this.random = new SplittableRandom(params.seed().orElseGet(SEED_SOURCE::nextLong));
        this.invTemperature = SoftmaxKernel.inverseTemperature(params.temperature());
    }

    public SamplingParams params() {
        return params;
    }

    /** The chosen token id in {@code [0, vocab)} for the row {@code logits[offset .. offset+vocab)}. */
    public int sample(float[] logits, int offset, int vocab) {
        checkRow(logits, offset, vocab);
        float max = SoftmaxKernel.maxLogit(logits, offset, vocab);
        if (params.isGreedy()) {
            return firstIndexOf(logits, offset, vocab, max);
        }
        if (prepare(logits, offset, vocab, max)) {
            return drawRanked(random.nextDouble() * keptMass);
        }
        return drawFullRow(vocab, random.nextDouble() * keptMass);
    }

    /**
     * The distribution {@link #sample} draws from, one probability per token id (test and debugging aid; allocates a
     * vocab-sized array). Consumes no randomness.
     */
    double[] probabilities(float[] logits, int offset, int vocab) {
        checkRow(logits, offset, vocab);
        float max = SoftmaxKernel.maxLogit(logits, offset, vocab);
        double[] p = new double[vocab];
        if (params.isGreedy()) {
            p[firstIndexOf(logits, offset, vocab, max)] = 1.0;
        } else if (prepare(logits, offset, vocab, max)) {
            for (int r = 0; r < rankedKept; r++) {
                p[rankedIds[r]] = rankedWeights[r] / keptMass;
            }
        } else {
            for (int id = 0; id < vocab; id++) {
                p[id] = keptWeight(weights[id], id, cutWeight, cutId) / keptMass;
            }
        }
        return p;
    }

    /**
     * Computes the kept tokens and their mass; true when the heap path was taken (ranked arrays hold the result),
     * false for the full-row path (weights and cutoff hold it).
     */
    private boolean prepare(float[] logits, int offset, int vocab, float max) {
        int topK = params.topK();
        boolean topKOn = topK > 0 && topK < vocab;
        if (topKOn && topK <= HEAP_TOP_K) {
            prepareRanked(logits, offset, vocab, max, topK, Double.NaN);
            return true;
        }
        if (params.topPEnabled() && !topKOn) {
            double z = SoftmaxKernel.sumExp(logits, offset, vocab, max, invTemperature);
            if (prepareRanked(logits, offset, vocab, max, NUCLEUS_PROBE, z)) {
                return true;
            }
        }
        if (weights.length < vocab) {
            weights = new double[vocab];
        }
        double z = SoftmaxKernel.expWeights(logits, offset, vocab, max, invTemperature, weights);
        keptMass = z;
        cutWeight = 0.0;
        cutId = -1;
        if (topKOn || params.topPEnabled()) {
            if (cutoff == null) {
                cutoff = new RankCutoff();
            }
            cutoff.compute(weights, vocab, z, topKOn ? topK : 0, params.topP());
            keptMass = cutoff.keptMass();
            cutWeight = cutoff.cutWeight();
            cutId = cutoff.cutId();
        }
        return false;
    }

    /**
     * Heap path: ranks the best {@code k} tokens and weighs them. Top-p is relative to {@code total}, the whole row's
     * weight (the probe for top-p alone), or to the {@code k} tokens' own weight when {@code total} is NaN (top-k).
     *
     * @return false when the probe's tokens do not reach {@code p * total}: the nucleus is larger than the probe
     */
    private boolean prepareRanked(float[] logits, int offset, int vocab, float max, int k, double total) {
        if (rankedIds.length < k) {
            rankedIds = new int[k];
            rankedWeights = new double[k];
        }
        int size = TopKSelector.select(logits, offset, vocab, k, rankedIds);
        double z = 0.0;
        for (int r = 0; r < size; r++) {
            double w = SoftmaxKernel.weight(logits[offset + rankedIds[r]], max, invTemperature);
            rankedWeights[r] = w;
            z += w;
        }
        rankedKept = size;
        keptMass = z;
        if (!params.topPEnabled()) {
            return true;
        }
        double target = params.topP() * (Double.isNaN(total) ? z : total);
        double cum = 0.0;
        for (int r = 0; r < size; r++) {
            cum += rankedWeights[r];
            if (cum >= target) {
                rankedKept = r + 1;
                keptMass = cum;
                return true;
            }
        }
        return Double.isNaN(total); // top-k: rounding kept the sum a hair below p; keep all k
    }

    /** First kept token, in rank order, at which the running weight exceeds {@code target}. */
    private int drawRanked(double target) {
        double cum = 0.0;
        int last = rankedIds[0];
        for (int r = 0; r < rankedKept; r++) {
            double w = rankedWeights[r];
            if (w > 0.0) {
                cum += w;
                last = rankedIds[r];
                if (cum > target) {
                    return last;
                }
            }
        }
        return last; // rounding left the running sum a hair below the total
    }

    /**
     * First kept token, in id order, at which the running weight exceeds {@code target}. The running sum advances a
     * block of 8 tokens at a time by the block's pairwise sum {@code ((w0+w1)+(w2+w3))+((w4+w5)+(w6+w7))} (a fixed
     * order, so still bit-reproducible); only the block that crosses the target is walked token by token.
     */
    private int drawFullRow(int vocab, double target) {
        double[] w = weights;
        double cutW = cutWeight;
        int cutI = cutId;
        double cum = 0.0;
        int lastBlock = -1;
        int id = 0;
        for (int upper = vocab - vocab % 8; id < upper; id += 8) {
            double block = ((keptWeight(w[id], id, cutW, cutI) + keptWeight(w[id + 1], id + 1, cutW, cutI))
                    + (keptWeight(w[id + 2], id + 2, cutW, cutI) + keptWeight(w[id + 3], id + 3, cutW, cutI)))
                    + ((keptWeight(w[id + 4], id + 4, cutW, cutI) + keptWeight(w[id + 5], id + 5, cutW, cutI))
                    + (keptWeight(w[id + 6], id + 6, cutW, cutI) + keptWeight(w[id + 7], id + 7, cutW, cutI)));
            if (block > 0.0) {
                if (cum + block > target) {
                    return walk(id, id + 8, cum, target, cutW, cutI);
                }
                cum += block;
                lastBlock = id;
            }
        }
        int inTail = walk(id, vocab, cum, target, cutW, cutI);
        // Without a crossing, rounding left the running sum a hair below the total: take the last kept token.
        return inTail >= 0 ? inTail : walk(lastBlock, lastBlock + 8, cum, Double.POSITIVE_INFINITY, cutW, cutI);
    }

    /** Token by token over {@code [from, to)}: the first kept id crossing {@code target}, else the last kept, else -1. */
    private int walk(int from, int to, double cum, double target, double cutW, int cutI) {
        int last = -1;
        for (int id = from; id < to; id++) {
            double kept = keptWeight(weights[id], id, cutW, cutI);
            if (kept > 0.0) {
                cum += kept;
                last = id;
                if (cum > target) {
                    return id;
                }
            }
        }
        return last;
    }

    /** The weight of a kept token, 0 for a cut one (see {@link RankCutoff}). */
    private static double keptWeight(double weight, int id, double cutW, int cutI) {
        return weight > cutW || (weight == cutW && id <= cutI) ? weight : 0.0;
    }

    private static int firstIndexOf(float[] logits, int offset, int vocab, float value) {
        for (int id = 0; id < vocab; id++) {
            if (logits[offset + id] == value) {
                return id;
            }
        }
        throw new IllegalStateException("max logit " + value + " not found in its own row");
    }

    static void checkRow(float[] logits, int offset, int vocab) {
        Objects.requireNonNull(logits, "logits");
        if (vocab < 1 || offset < 0 || offset > logits.length - vocab) {
            throw new IllegalArgumentException("logits row [offset " + offset + ", vocab " + vocab
                    + "] does not fit in an array of " + logits.length + " floats (need vocab >= 1 and offset >= 0)");
        }
    }
}
