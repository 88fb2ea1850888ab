package dev.dsv2.gateway.router;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.engine.serve.ErrorKind;

/** One request's events from a {@link RouterClient}; see its class doc for the ordering and threading contract. */
public interface RouterListener {
    /**
     * @param logprob the chosen token's logprob (natural log, raw logits), NaN when logprobs were not requested
     * @param top     the step's best tokens, best first, or null when not requested
     */
    void onToken(int tokenId, float logprob, TopLogprobs top);

    /** The request ended normally ({@code stop}, {@code length}) or by {@link RouterClient#abort} ({@code abort}). */
    void onComplete(FinishReason reason, int promptTokens, int completionTokens);

    /** The request failed after it was accepted (an expert shard became unreachable, the router shut down, ...). */
    void onError(ErrorKind kind, String message);
}
