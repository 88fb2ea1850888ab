package dev.dsv2.router;

import dev.dsv2.engine.serve.WakeLatency;
import dev.dsv2.proto.internal.v1.ExpertRequest;
import dev.dsv2.proto.internal.v1.ExpertResponse;
import dev.dsv2.proto.internal.v1.ExpertsGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * One long-lived {@code Experts/ComputeStream} to one shard pod: every MoE layer's call to that pod travels on it
 * (no per-call HTTP/2 stream setup, headers or deadline propagation), matched to its reply by {@code call_id}.
 *
 * <p>A call has its own timeout, enforced here (the stream has no deadline). A call the shard fails is answered with
 * its status in the reply, and only that call fails. When the stream ends (the pod stopped, the connection broke),
 * every call still in flight fails with the stream's status (UNAVAILABLE, CANCELLED: retryable on a replica), and
 * {@code onEnd} tells the owner to open a new stream for the next call.
 */
final class ComputeStream {
    /**
     * Times every call's timeout; one daemon thread for all streams. A timer cancelled by its call's answer leaves the
     * queue at once: kept until its deadline (30 s by default), the timers of a busy router would pile up by the
     * tens of thousands.
     */
    private static final ScheduledThreadPoolExecutor TIMEOUTS = timeouts();

    private static ScheduledThreadPoolExecutor timeouts() {
        ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1,
                Thread.ofPlatform().name("dsv2-expert-call-timeouts").daemon().factory());
        t.setRemoveOnCancelPolicy(true);
        return t;
    }

    /** Call timers waiting to fire, over every stream (for tests). */
    static int pendingTimeouts() {
        return TIMEOUTS.getQueue().size();
    }

    /** A shard's answer and the router's wall-clock stamps around it (for the per-layer timeline). */
    record Reply(ExpertResponse response, long sentUnixNanos, long receivedUnixNanos) {
    }

    private record Call(CompletableFuture<Reply> result, long sentUnixNanos, ScheduledFuture<?> timeout) {
    }

    private final String address;
    private final StreamObserver<ExpertRequest> requests;
    private final ConcurrentHashMap<Long, Call> pending = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();
    private final Consumer<Status> onEnd;
    private volatile Status ended;

    ComputeStream(ManagedChannel channel, String address, Consumer<Status> onEnd) {
        this.address = address;
        this.onEnd = onEnd;
        this.requests = ExpertsGrpc.newStub(channel).computeStream(new StreamObserver<>() {
            @Override
            public void onNext(ExpertResponse response) {
                WakeLatency.markTransportThread(); // the channel's event loop, which also writes the calls
                long now = unixNanos();
                Call c = pending.remove(response.getCallId());
                if (c == null) {
                    return; // timed out already
                }
                c.timeout().cancel(false);
                if (response.hasError()) {
                    c.result().completeExceptionally(Status.fromCodeValue(response.getError().getCode())
                            .withDescription(response.getError().getMessage()).asRuntimeException());
                } else {
                    c.result().complete(new Reply(response, c.sentUnixNanos(), now));
                }
            }

            @Override
            public void onError(Throwable t) {
                end(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                end(Status.UNAVAILABLE.withDescription(address + " closed the compute stream"));
            }
        });
    }

    /** Whether the stream has ended (its calls failed; a new one is needed). */
    boolean ended() {
        return ended != null;
    }

    /**
     * Sends {@code request} on the stream; the future fails with a {@link io.grpc.StatusRuntimeException}: the
     * shard's status for this call, DEADLINE_EXCEEDED after {@code timeout}, or the stream's end status.
     */
    CompletableFuture<Reply> send(ExpertRequest request, Duration timeout) {
        long id = ids.incrementAndGet();
        CompletableFuture<Reply> result = new CompletableFuture<>();
        int layer = request.getLayer(); // the timer keeps the layer, not the request and its rows
        ScheduledFuture<?> timer = TIMEOUTS.schedule(() -> {
            Call c = pending.remove(id);
            if (c != null) {
                c.result().completeExceptionally(Status.DEADLINE_EXCEEDED.withDescription(address
                        + " did not answer layer " + layer + " within " + timeout.toMillis() + " ms")
                        .asRuntimeException());
            }
        }, timeout.toNanos(), TimeUnit.NANOSECONDS);
        long sent = unixNanos();
        pending.put(id, new Call(result, sent, timer));
        Status e = ended;
        if (e != null) {
            fail(id, e);
            return result;
        }
        try {
            synchronized (this) { // StreamObserver is not thread-safe; both micro-batches send
                requests.onNext(request.toBuilder().setCallId(id).build());
            }
        } catch (RuntimeException ex) {
            fail(id, Status.fromThrowable(ex));
        }
        return result;
    }

    private void fail(long id, Status status) {
        Call c = pending.remove(id);
        if (c != null) {
            c.timeout().cancel(false);
            c.result().completeExceptionally(status.asRuntimeException());
        }
    }

    private void end(Status status) {
        ended = status;
        for (Long id : pending.keySet()) {
            fail(id, status);
        }
        onEnd.accept(status);
    }

    /** Half-closes the stream (the shard then completes it). */
    void close() {
        if (ended == null) {
            synchronized (this) {
                try {
                    requests.onCompleted();
                } catch (RuntimeException ignored) {
                    // already broken
                }
            }
        }
    }

    /** Wall-clock time in nanoseconds since the epoch (microsecond resolution on Linux). */
    static long unixNanos() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }
}
