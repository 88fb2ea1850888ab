package dev.dsv2.engine.quant;

import dev.dsv2.engine.cache.CacheSequence;
import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.model.AttentionMode;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.model.ForwardBatch;
import dev.dsv2.engine.model.Workspace;
import dev.dsv2.engine.sample.Logprobs;
import dev.dsv2.engine.sample.TopLogprobs;

/**
 * How far a candidate model (int8 weights) departs from a reference (the same checkpoint in bf16) on one prompt,
 * the figures of {@code docs/int8.md}:
 * <ul>
 *   <li>{@code freeRunAgreedSteps}: both decode greedily on their own; the steps before their first different token;</li>
 *   <li>teacher-forced, on the reference's greedy continuation (so both see the same context at every step):
 *       {@code argmaxAgreedSteps}, the steps whose argmax is the same, and {@code maxTop5LogprobDelta}, the largest
 *       {@code |logprob_candidate(t) - logprob_reference(t)|} over the reference's top-5 tokens t of every step.</li>
 * </ul>
 *
 * @param steps decode steps compared
 */
public record Int8Agreement(int steps, int freeRunAgreedSteps, int argmaxAgreedSteps, double maxTop5LogprobDelta) {
    private static final int TOP = 5;

    public static Int8Agreement measure(DeepseekV2Model reference, DeepseekV2Model candidate, int[] prompt,
                                        int steps) {
        int vocab = reference.config().vocabSize();
        float[][] refLogits = new float[steps][];
        int[] refTokens = greedy(reference, prompt, steps, refLogits);
        int[] candTokens = greedy(candidate, prompt, steps, null);
        int free = 0;
        while (free < steps && refTokens[free] == candTokens[free]) {
            free++;
        }
        // Teacher forcing: the candidate over prompt + the reference's tokens, logits of every decode position.
        int n = prompt.length + steps - 1;
        int[] tokens = new int[n];
        System.arraycopy(prompt, 0, tokens, 0, prompt.length);
        System.arraycopy(refTokens, 0, tokens, prompt.length, steps - 1);
        LatentKvCache cache = LatentKvCache.forTokens(candidate.config(), n, candidate.backend());
        CacheSequence seq = cache.newSequence();
        cache.reserve(seq, n);
        int[] positions = new int[n];
        CacheSequence[] seqs = new CacheSequence[n];
        int[] logitRows = new int[steps];
        for (int i = 0; i < n; i++) {
            positions[i] = i;
            seqs[i] = seq;
        }
        for (int s = 0; s < steps; s++) {
            logitRows[s] = prompt.length - 1 + s;
        }
        float[] cand = candidate.forward(ForwardBatch.of(tokens, positions, seqs, logitRows), cache,
                AttentionMode.AUTO, new Workspace(candidate.backend()));
        int argmaxAgreed = 0;
        double maxDelta = 0;
        for (int s = 0; s < steps; s++) {
            TopLogprobs top = Logprobs.top(refLogits[s], 0, vocab, TOP);
            if (argmax(cand, s * vocab, vocab) == top.id(0)) {
                argmaxAgreed++;
            }
            for (int k = 0; k < top.size(); k++) {
                double d = Math.abs(Logprobs.of(cand, s * vocab, vocab, top.id(k)) - top.logprob(k));
                maxDelta = Math.max(maxDelta, d);
            }
        }
        return new Int8Agreement(steps, free, argmaxAgreed, maxDelta);
    }

    /** Greedy decoding of {@code steps} tokens; each step's logits are kept in {@code logits} when given. */
    private static int[] greedy(DeepseekV2Model m, int[] prompt, int steps, float[][] logits) {
        int vocab = m.config().vocabSize();
        LatentKvCache cache = LatentKvCache.forTokens(m.config(), prompt.length + steps, m.backend());
        CacheSequence seq = cache.newSequence();
        cache.reserve(seq, prompt.length + steps);
        Workspace ws = new Workspace(m.backend());
        int[] out = new int[steps];
        float[] l = m.forward(ForwardBatch.single(seq, prompt, 0), cache, AttentionMode.AUTO, ws);
        for (int s = 0; s < steps; s++) {
            if (logits != null) {
                logits[s] = java.util.Arrays.copyOf(l, vocab);
            }
            out[s] = argmax(l, 0, vocab);
            if (s + 1 < steps) {
                l = m.forward(ForwardBatch.single(seq, new int[]{out[s]}, prompt.length + s), cache,
                        AttentionMode.AUTO, ws);
            }
        }
        return out;
    }

    /** The index of the largest of {@code v[off, off + n)} (the first on ties). */
    static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (v[off + i] > v[off + best]) {
                best = i;
            }
        }
        return best;
    }
}
