package dev.dsv2.router;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.GenerationListener;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;

/** Collects one scheduler request's events. */
class Collector implements GenerationListener {
    final List<Integer> ids = new ArrayList<>();
    final CompletableFuture<FinishReason> done = new CompletableFuture<>();
    final CountDownLatch firstTokens;
    volatile ErrorKind error;
    volatile String errorMessage;

    Collector(int tokensToWaitFor) {
        firstTokens = new CountDownLatch(tokensToWaitFor);
    }

    Collector() {
        this(1);
    }

    @Override
    public synchronized void onToken(int tokenId, float logprob, TopLogprobs top) {
        ids.add(tokenId);
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

    synchronized int[] ids() {
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }
}
