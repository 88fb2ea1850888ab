package dev.dsv2.gateway.guard;


import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntSupplier;
import java.util.logging.Logger;

/**
 * The gateway's graceful shutdown. Before it, SIGTERM cut HTTP streams 50-80 ms later with no final chunk. Now, at
 * once: readiness reports DOWN (Kubernetes stops routing here) and new API requests are refused (HTTP 503, gRPC
 * UNAVAILABLE); the requests in flight run to completion for up to {@code dsv2.shutdown.drain-timeout}; whatever
 * still runs then is aborted, so each stream ends well-formed (a last chunk with {@code finish_reason: "abort"} and
 * {@code [DONE]}, or gRPC's last chunk), and the servers close only after that.
 */
public final class ShutdownDrain {
    private static final Logger LOG = Logger.getLogger(ShutdownDrain.class.getName());
    /** How long aborted streams get to write their last chunk. */
    static final Duration FLUSH = Duration.ofSeconds(2);

    private final AtomicBoolean draining = new AtomicBoolean();
    private final Duration timeout;

    public ShutdownDrain(Duration timeout) {
        this.timeout = timeout;
    }

    public boolean draining() {
        return draining.get();
    }

    /**
     * Drains: refuses new requests from now on, waits for {@code inFlight} to reach 0 (at most the drain timeout),
     * then aborts what is left ({@code abortRemaining}, which returns how many it aborted) and waits a moment for
     * the last chunks.
     *
     * @return requests aborted at the end of the timeout
     */
    public int drain(IntSupplier inFlight, IntSupplier abortRemaining) {
        if (!draining.compareAndSet(false, true)) {
            return 0;
        }
        long start = System.nanoTime();
        int left = inFlight.getAsInt();
        if (left > 0) {
            LOG.info("draining " + left + " request(s) in flight for up to " + timeout.toSeconds() + " s");
        }
        if (!await(inFlight, start + timeout.toNanos())) {
            int aborted = abortRemaining.getAsInt();
            LOG.info("drain timeout (" + timeout.toSeconds() + " s): aborted " + aborted + " request(s)");
            await(inFlight, System.nanoTime() + FLUSH.toNanos());
            return aborted;
        }
        return 0;
    }

    private static boolean await(IntSupplier inFlight, long deadline) {
        while (inFlight.getAsInt() > 0) {
            if (System.nanoTime() - deadline >= 0) {
                return false;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }
}
