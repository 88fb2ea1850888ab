package dev.dsv2.gateway.router;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.engine.serve.ErrorKind;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Records one request's router events; {@link #await} waits for the end. */
final class RouterEvents implements RouterListener {
    final List<Integer> tokens = new ArrayList<>();
    final List<Float> logprobs = new ArrayList<>();
    final List<TopLogprobs> tops = new ArrayList<>();
    final CompletableFuture<String> end = new CompletableFuture<>();
    volatile FinishReason reason;
    volatile ErrorKind errorKind;
    volatile String errorMessage;
    volatile int completionTokens;

    @Override
    public synchronized void onToken(int tokenId, float logprob, TopLogprobs top) {
        tokens.add(tokenId);
        logprobs.add(logprob);
        tops.add(top);
    }

    @Override
    public void onComplete(FinishReason reason, int promptTokens, int completionTokens) {
        this.reason = reason;
        this.completionTokens = completionTokens;
        end.complete("complete");
    }

    @Override
    public void onError(ErrorKind kind, String message) {
        this.errorKind = kind;
        this.errorMessage = message;
        end.complete("error");
    }

    RouterEvents await() throws Exception {
        end.get(60, TimeUnit.SECONDS);
        return this;
    }

    synchronized int[] tokenArray() {
        return tokens.stream().mapToInt(Integer::intValue).toArray();
    }
}
