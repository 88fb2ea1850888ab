package dev.dsv2.gateway.guard;

import dev.dsv2.gateway.core.ApiError;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Bounds the CPU work of interactive requests before they reach the router (JSON, chat template, tokenization): at
 * most {@code threads} run at once and at most {@value #MAX_WAITING} wait (a burst of hundreds of small requests
 * must queue, not fail); a request beyond that, or one that waits longer than the admission wait, gets 429.
 * Requests run on virtual threads (never the event loop), so without this bound eight 9 MB prompts took every core
 * and a 2-token request waited 18 s behind them; prompts that cannot fit the context are refused before this by
 * their byte length.
 */
public final class TokenizerGate {
    /** Requests that may wait for a tokenizer thread at once. */
    static final int MAX_WAITING = 1024;

    private final Semaphore running;
    private final int maxWaiting;
    private final long waitNanos;
    private final AtomicInteger waiting = new AtomicInteger();

    public TokenizerGate(GuardSettings settings) {
        this.running = new Semaphore(settings.tokenizerThreads(), true);
        this.maxWaiting = MAX_WAITING;
        this.waitNanos = settings.admissionWait().toNanos();
    }

    /** Runs {@code work} within the bound. */
    public <T> T run(Supplier<T> work) {
        if (!running.tryAcquire()) {
            if (waiting.incrementAndGet() > maxWaiting) {
                waiting.decrementAndGet();
                throw busy();
            }
            boolean got;
            try {
                got = running.tryAcquire(waitNanos, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                got = false;
            } finally {
                waiting.decrementAndGet();
            }
            if (!got) {
                throw busy();
            }
        }
        try {
            return work.get();
        } finally {
            running.release();
        }
    }

    private static ApiError busy() {
        return new ApiError(ApiError.Kind.RESOURCE_EXHAUSTED, null, "too_many_requests", "server saturated: too "
                + "many requests are being tokenized; retry after " + FairAdmission.RETRY_AFTER_SECONDS + " s");
    }
}
