package dev.dsv2.gateway.guard;

import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.core.SequenceSpec;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Admission of interactive requests by their sequences, fair between owners (API keys, or client addresses when the
 * server is open). Without it one client sending 34 prompts x n=128 filled the router's queue and every other
 * client got 429 for as long as it ran. Three rules:
 * <ol>
 *   <li>A request that could never be admitted ({@code n x prompts} over the per-request cap, or more requested
 *       tokens than the cap) is a 400 at once, not a retryable 429.</li>
 *   <li>One owner holds at most {@link GuardSettings#ownerLimit()} sequences; the rest of the budget stays for
 *       others.</li>
 *   <li>When the budget is full, requests wait in one queue per owner; released room goes round-robin between
 *       owners (an owner served moves to the back), so a client with many queued requests cannot starve one with
 *       a single request. A request that waits longer than {@code admission-wait} gets 429 with
 *       {@code Retry-After}: that is the only transient refusal.</li>
 * </ol>
 * The router's own scheduler limits stay behind this as a last resort.
 */
public final class FairAdmission {
    /** {@code code} of a request too large to ever be admitted. */
    public static final String REQUEST_TOO_LARGE = "request_too_large";
    /** Seconds a refused client should wait before retrying (HTTP {@code Retry-After}). */
    public static final int RETRY_AFTER_SECONDS = 1;

    private final GuardSettings settings;
    private final int ownerLimit;
    private int used;
    private final Map<String, Integer> held = new HashMap<>();
    /** Owners with waiting requests, in round-robin order (the next to serve first). */
    private final LinkedHashMap<String, ArrayDeque<Waiter>> queues = new LinkedHashMap<>();

    public FairAdmission(GuardSettings settings) {
        this.settings = settings;
        this.ownerLimit = settings.ownerLimit();
    }

    /** An admitted request's share of the budget; {@link #close} gives it back (once). */
    public final class Ticket implements AutoCloseable {
        private final String owner;
        private final int sequences;
        private boolean closed;

        private Ticket(String owner, int sequences) {
            this.owner = owner;
            this.sequences = sequences;
        }

        @Override
        public void close() {
            synchronized (FairAdmission.this) {
                if (closed) {
                    return;
                }
                closed = true;
                used -= sequences;
                held.merge(owner, -sequences, (a, b) -> a + b == 0 ? null : a + b);
                dispatch();
            }
        }
    }

    private static final class Waiter {
        final int sequences;
        final CountDownLatch granted = new CountDownLatch(1);
        Ticket ticket;

        Waiter(int sequences) {
            this.sequences = sequences;
        }
    }

    /**
     * Checks the per-request caps (each a 400 naming the cap), then waits for {@code owner}'s turn.
     *
     * @throws ApiError INVALID_ARGUMENT ({@value #REQUEST_TOO_LARGE}) or RESOURCE_EXHAUSTED after the wait
     */
    public Ticket admit(String owner, List<SequenceSpec> sequences) {
        int n = sequences.size();
        if (n > settings.maxSequencesPerRequest()) {
            throw new ApiError(ApiError.Kind.INVALID_ARGUMENT, "n", REQUEST_TOO_LARGE, "this request asks for "
                    + n + " sequences (n x prompts), more than this server admits in one request ("
                    + settings.maxSequencesPerRequest() + ", dsv2.gateway.max-sequences-per-request); split it");
        }
        long tokens = 0;
        for (SequenceSpec s : sequences) {
            tokens += s.promptLength() + (long) s.params().maxTokens();
        }
        if (tokens > settings.maxRequestTokens()) {
            throw new ApiError(ApiError.Kind.INVALID_ARGUMENT, "max_tokens", REQUEST_TOO_LARGE, "this request asks "
                    + "for " + tokens + " tokens (prompt + max_tokens over its " + n + " sequences), more than this "
                    + "server admits in one request (" + settings.maxRequestTokens()
                    + ", dsv2.gateway.max-request-tokens); lower max_tokens or n, or split it");
        }
        Waiter waiter = new Waiter(n);
        synchronized (this) {
            queues.computeIfAbsent(owner, o -> new ArrayDeque<>()).add(waiter);
            dispatch();
        }
        try {
            waiter.granted.await(settings.admissionWait().toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) { // granted, or still queued: decided under the lock
            if (waiter.ticket != null) {
                return waiter.ticket;
            }
            ArrayDeque<Waiter> q = queues.get(owner);
            if (q != null) {
                q.remove(waiter);
                if (q.isEmpty()) {
                    queues.remove(owner);
                }
            }
        }
        throw new ApiError(ApiError.Kind.RESOURCE_EXHAUSTED, null, "too_many_requests", "server saturated: "
                + "no room for this request's " + n + " sequences within " + settings.admissionWait().toMillis()
                + " ms (" + used() + " of " + settings.queuedSequences() + " in flight"
                + "); retry after " + RETRY_AFTER_SECONDS + " s");
    }

    /** Grants waiting requests that fit, round-robin between owners, until a full pass grants nothing. */
    private void dispatch() {
        boolean progress = true;
        while (progress && !queues.isEmpty()) {
            progress = false;
            Iterator<Map.Entry<String, ArrayDeque<Waiter>>> it = queues.entrySet().iterator();
            String served = null;
            while (it.hasNext()) {
                Map.Entry<String, ArrayDeque<Waiter>> e = it.next();
                Waiter head = e.getValue().peek();
                int mine = held.getOrDefault(e.getKey(), 0);
                if (used + head.sequences <= settings.queuedSequences() && mine + head.sequences <= ownerLimit) {
                    e.getValue().poll();
                    used += head.sequences;
                    held.merge(e.getKey(), head.sequences, Integer::sum);
                    head.ticket = new Ticket(e.getKey(), head.sequences);
                    head.granted.countDown();
                    served = e.getKey();
                    progress = true;
                    break;
                }
            }
            if (served != null) {
                ArrayDeque<Waiter> q = queues.remove(served);
                if (!q.isEmpty()) {
                    queues.put(served, q);
                }
            }
        }
    }

    /** Sequences admitted and not yet released. */
    public synchronized int used() {
        return used;
    }

    /** Sequences {@code owner} holds. */
    public synchronized int held(String owner) {
        return held.getOrDefault(owner, 0);
    }
}
