package dev.dsv2.gateway.core;

import java.util.Optional;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A cap on concurrently running API requests of one kind of traffic, so batch work cannot crowd out interactive
 * clients (each has its own limit). Interactive APIs {@link #tryAcquire} and answer RESOURCE_EXHAUSTED / HTTP 429
 * when it is full; a batch consumer {@link #acquire}s (waits) before it hands a request to the API, which then
 * releases the permit when the request ends. A limit of 0 means no cap.
 */
public final class InFlightLimit {
    private final String name;
    private final int max;
    private final Semaphore permits;

    /** @param max requests at once; 0 = no cap */
    public InFlightLimit(String name, int max) {
        if (max < 0) {
            throw new IllegalArgumentException("in-flight limit " + name + " must be >= 0 (0 = no cap), got " + max);
        }
        this.name = name;
        this.max = max;
        this.permits = new Semaphore(max == 0 ? Integer.MAX_VALUE : max);
    }

    public static InFlightLimit unlimited(String name) {
        return new InFlightLimit(name, 0);
    }

    public String name() {
        return name;
    }

    /** The cap; 0 = none. */
    public int max() {
        return max;
    }

    public int inFlight() {
        return max == 0 ? Integer.MAX_VALUE - permits.availablePermits() : max - permits.availablePermits();
    }

    /** A permit if one is free now. */
    public Optional<Permit> tryAcquire() {
        return permits.tryAcquire() ? Optional.of(new Permit()) : Optional.empty();
    }

    /** A permit, waiting for one to be released if none is free. */
    public Permit acquire() throws InterruptedException {
        permits.acquire();
        return new Permit();
    }

    /** {@link #tryAcquire}, or the 429 error that names this limit. */
    public Permit acquireOrRefuse() {
        return tryAcquire().orElseThrow(() -> new ApiError(ApiError.Kind.RESOURCE_EXHAUSTED, null, "too_many_requests",
                "server saturated: " + max + " " + name + " requests are in flight (the cap); retry later"));
    }

    /** One admitted request; {@link #close} releases it (once, however often it is called). */
    public final class Permit implements AutoCloseable {
        private final AtomicBoolean released = new AtomicBoolean();
        private final java.util.List<AutoCloseable> also = new java.util.concurrent.CopyOnWriteArrayList<>();

        private Permit() {
        }

        public InFlightLimit limit() {
            return InFlightLimit.this;
        }

        /** Releases {@code other} (e.g. the request's admission ticket) together with this permit. */
        public Permit alsoRelease(AutoCloseable other) {
            also.add(other);
            if (released.get()) {
                closeQuietly(other);
            }
            return this;
        }

        @Override
        public void close() {
            if (released.compareAndSet(false, true)) {
                permits.release();
                also.forEach(Permit::closeQuietly);
            }
        }

        private static void closeQuietly(AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                throw new IllegalStateException("releasing " + c + " failed: " + e, e);
            }
        }
    }
}
