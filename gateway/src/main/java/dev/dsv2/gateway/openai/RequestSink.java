package dev.dsv2.gateway.openai;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.core.GenerationSink;
import dev.dsv2.gateway.core.InFlightLimit;
import dev.dsv2.gateway.core.RequestHandle;
import dev.dsv2.gateway.core.ServingObserver;
import dev.dsv2.gateway.core.ServingObserver.Outcome;
import dev.dsv2.gateway.core.TokenLogprob;
import dev.dsv2.gateway.core.Usage;

/**
 * The bookkeeping every OpenAI response shares, whatever its format: all choices' events serialized on this object
 * (so output of several choices never interleaves mid-write), the request ends when every choice has finished or
 * the first one fails (then the others are aborted), and at the end the in-flight permit is released and the
 * request's outcome counted once. Subclasses format: {@link CompleteResponse} (one JSON body) and
 * {@link StreamResponse} (SSE chunks).
 */
abstract class RequestSink implements GenerationSink {
    final OpenAiRequest request;
    final String id;
    final long created;
    private final InFlightLimit.Permit permit;
    private final String api;
    private final ServingObserver observer;
    private int remaining;
    private int completionTokens;
    private boolean aborted;
    private boolean ended;
    private boolean abortWanted;
    private RequestHandle handle;

    RequestSink(OpenAiRequest request, String id, long created, InFlightLimit.Permit permit, String api,
                ServingObserver observer) {
        this.request = request;
        this.id = id;
        this.created = created;
        this.permit = permit;
        this.api = api;
        this.observer = observer;
        this.remaining = request.sequences().size();
    }

    /** The running request, once started: aborted at once if a choice already failed. */
    void attach(RequestHandle handle) {
        boolean abortNow;
        synchronized (this) {
            this.handle = handle;
            abortNow = abortWanted;
        }
        if (abortNow) {
            handle.abort();
        }
    }

    /** Cancels the request (client gone); its choices finish with {@code abort}. */
    void cancel() {
        RequestHandle h;
        synchronized (this) {
            abortWanted = true;
            h = handle;
        }
        if (h != null) {
            h.abort();
        }
    }

    synchronized boolean ended() {
        return ended;
    }

    @Override
    public final synchronized void onDelta(int index, int tokenId, String text, TokenLogprob logprob) {
        if (!ended) {
            delta(index, text, logprob);
        }
    }

    @Override
    public final synchronized void onFinish(int index, FinishReason reason, String text, Usage usage) {
        if (ended) {
            return;
        }
        finish(index, reason, text);
        completionTokens += usage.completionTokens();
        aborted |= reason == FinishReason.ABORT;
        if (--remaining == 0) {
            ended = true;
            permit.close();
            observer.request(api, aborted ? Outcome.ABORTED : Outcome.SUCCESS);
            complete(new Usage(request.promptTokens(), completionTokens));
        }
    }

    @Override
    public final void onError(int index, ApiError error) {
        RequestHandle siblings;
        synchronized (this) {
            if (ended) {
                return;
            }
            ended = true;
            abortWanted = true;
            siblings = handle;
            permit.close();
            observer.request(api, Outcome.of(error.kind()));
            fail(error);
        }
        // Outside the lock: aborting may call back into this sink from another thread.
        if (siblings != null) {
            siblings.abort();
        }
    }

    abstract void delta(int index, String text, TokenLogprob logprob);

    abstract void finish(int index, FinishReason reason, String text);

    abstract void complete(Usage usage);

    abstract void fail(ApiError error);
}
