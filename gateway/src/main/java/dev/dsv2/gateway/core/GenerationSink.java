package dev.dsv2.gateway.core;

import dev.dsv2.engine.sample.FinishReason;

/**
 * Receives the output of an API request's sequences, already detokenized and cut at stop strings. For each
 * sequence index: any number of {@link #onDelta}, then exactly one of {@link #onFinish} or {@link #onError}.
 * Calls for one index never overlap; calls for different indices may (implementations synchronize if they
 * share state). Nothing blocks the scheduler: these run on request threads.
 */
public interface GenerationSink {
    /**
     * One generated token.
     *
     * @param text     the text this token completes (often empty: an incomplete character, a skipped special token,
     *                 text held back as a possible stop-string prefix)
     * @param logprob  the token's logprob entry, or null when logprobs were not requested
     */
    void onDelta(int index, int tokenId, String text, TokenLogprob logprob);

    /**
     * The sequence ended.
     *
     * @param text   trailing text released at the end (held-back text, a cut-off character), may be empty
     * @param reason {@code stop} (EOS, stop token, stop string), {@code length} or {@code abort}
     */
    void onFinish(int index, FinishReason reason, String text, Usage usage);

    /** The sequence failed after it was accepted. */
    void onError(int index, ApiError error);
}
