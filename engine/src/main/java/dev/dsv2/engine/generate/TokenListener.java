package dev.dsv2.engine.generate;

import dev.dsv2.engine.sample.TopLogprobs;

/** Receives a request's tokens as they are generated (streaming). */
@FunctionalInterface
public interface TokenListener {
    /**
     * @param tokenId   the generated id
     * @param textDelta the text this token completes (may be empty; stop strings already cut)
     * @param top       the step's top logprobs, or null when not requested
     */
    void onToken(int tokenId, String textDelta, TopLogprobs top);

    TokenListener NONE = (id, text, top) -> { };
}
