package dev.dsv2.testsupport;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.GenerationListener;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;

/**
 * Collects one scheduler request's events for a test: the token ids, how it finished ({@link #done}; an error
 * completes it with {@link FinishReason#ERROR} and keeps {@link #error} / {@link #errorMessage}), and a latch that
 * opens after the first {@code tokensToWaitFor} tokens (to act in the middle of a stream).
 */
public class CollectingListener implements GenerationListener {
    public final List<Integer> ids = new ArrayList<>();
    /** Each token's logprob, as the scheduler reported it. */
    public final List<Float> logprobs = new ArrayList<>();
    public final CompletableFuture<FinishReason> done = new CompletableFuture<>();
    public final CountDownLatch firstTokens;
    public volatile ErrorKind error;
    public volatile String errorMessage;

    public CollectingListener(int tokensToWaitFor) {
        firstTokens = new CountDownLatch(tokensToWaitFor);
    }

    public CollectingListener() {
        this(1);
    }

    @Override
    public synchronized void onToken(int tokenId, float logprob, TopLogprobs top) {
        ids.add(tokenId);
        logprobs.add(logprob);
        firstTokens.countDown();
    }

    @Override
    public void onComplete(FinishReason reason, int promptTokens, int completionTokens) {
        done.complete(reason);
    }

    @Override
    public void onError(ErrorKind kind, String message) {
        error = kind;
        errorMessage = message;
        done.complete(FinishReason.ERROR);
    }

    /** The tokens so far. */
    public synchronized int[] ids() {
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }
}
