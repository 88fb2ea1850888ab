package dev.dsv2.engine.sample;

/**
 * Natural-log probabilities of the RAW logits of one step: {@code log softmax(x)}, before temperature, top-k and
 * top-p, as the OpenAI API and the {@code generate --logprobs} contract report them.
 *
 * <p>Row: {@code logits[offset .. offset+vocab)}, token id {@code i} at {@code logits[offset+i]}. Log-sum-exp in
 * double, stabilised by the max: {@code logprob_i = (x_i - m) - log(sum_j exp(x_j - m))}, with the sum computed by
 * {@link SoftmaxKernel} (a vector pass). A token with logit -Infinity has logprob -Infinity. Logits must be finite or
 * -Infinity, and not all -Infinity.
 */
public final class Logprobs {
    private Logprobs() {
    }

    /**
     * The {@code min(k, vocab)} most likely tokens with their logprobs, best first, equal logits by lower id.
     *
     * @throws IllegalArgumentException when {@code k < 0}, the row does not fit, or a logit is NaN or +Infinity
     */
    public static TopLogprobs top(float[] logits, int offset, int vocab, int k) {
        Sampler.checkRow(logits, offset, vocab);
        if (k < 0) {
            throw new IllegalArgumentException("top logprobs: k must be >= 0, got " + k);
        }
        float max = SoftmaxKernel.maxLogit(logits, offset, vocab);
        double logZ = Math.log(SoftmaxKernel.sumExp(logits, offset, vocab, max, 1.0));
        int[] ids = new int[Math.min(k, vocab)];
        int size = TopKSelector.select(logits, offset, vocab, k, ids);
        float[] logprobs = new float[size];
        for (int r = 0; r < size; r++) {
            logprobs[r] = logprob(logits[offset + ids[r]], max, logZ);
        }
        return new TopLogprobs(ids, logprobs);
    }

    /**
     * The logprob of {@code tokenId} (typically the token just sampled).
     *
     * @throws IllegalArgumentException when {@code tokenId} is not in {@code [0, vocab)}, the row does not fit, or a
     *                                  logit is NaN or +Infinity
     */
    public static float of(float[] logits, int offset, int vocab, int tokenId) {
        Sampler.checkRow(logits, offset, vocab);
        if (tokenId < 0 || tokenId >= vocab) {
            throw new IllegalArgumentException("logprob of token " + tokenId + ": token id must be in [0, " + vocab
                    + ")");
        }
        float max = SoftmaxKernel.maxLogit(logits, offset, vocab);
        double logZ = Math.log(SoftmaxKernel.sumExp(logits, offset, vocab, max, 1.0));
        return logprob(logits[offset + tokenId], max, logZ);
    }

    private static float logprob(float logit, float max, double logZ) {
        return (float) (((double) logit - max) - logZ);
    }
}
