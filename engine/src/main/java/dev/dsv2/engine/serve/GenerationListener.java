package dev.dsv2.engine.serve;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.TopLogprobs;

/**
 * Receives one request's events from the {@link BatchScheduler}, on the scheduler thread (implementations hand
 * them on without blocking). Exactly one of {@link #onComplete} or {@link #onError} ends every request.
 */
public interface GenerationListener {
    /**
     * @param logprob the chosen token's logprob, NaN when logprobs were not requested
     * @param top     the step's top-K logprobs, or null when not requested
     */
    void onToken(int tokenId, float logprob, TopLogprobs top);

    void onComplete(FinishReason reason, int promptTokens, int completionTokens);

    void onError(ErrorKind kind, String message);
}
