package dev.dsv2.gateway.core;

/**
 * What the client wants back besides the text.
 *
 * @param includeSpecialTokens keep special tokens (e.g. EOS) in the text instead of skipping them
 * @param logprobs             report each generated token's logprob
 * @param topLogprobs          and this many best alternatives per step (0..{@link #MAX_TOP_LOGPROBS})
 */
public record OutputOptions(boolean includeSpecialTokens, boolean logprobs, int topLogprobs) {
    public static final int MAX_TOP_LOGPROBS = 20;
    public static final OutputOptions TEXT_ONLY = new OutputOptions(false, false, 0);

    public OutputOptions {
        if (topLogprobs < 0 || topLogprobs > MAX_TOP_LOGPROBS) {
            throw new IllegalArgumentException("topLogprobs must be in [0, " + MAX_TOP_LOGPROBS + "], got "
                    + topLogprobs);
        }
    }

    /** The top-K the router must compute: at least 1 when logprobs are reported (that also gives the chosen one). */
    public int routerLogprobs() {
        return logprobs ? Math.max(1, topLogprobs) : 0;
    }
}
