package dev.dsv2.router;

import dev.dsv2.proto.internal.v1.ExpertRequest;
import dev.dsv2.proto.internal.v1.ExpertsGrpc;
import dev.dsv2.proto.internal.v1.ShardInfo;
import dev.dsv2.proto.internal.v1.ShardInfoRequest;
import dev.dsv2.proto.tls.InternalTls;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One expert-service pod ({@code host:port}) as the router sees it: a gRPC channel, the {@link ShardInfo} it
 * answered once ready, and whether its last call failed.
 *
 * <p>A channel whose connection attempts fail sits in TRANSIENT_FAILURE and fails every call at once until its
 * reconnect backoff (up to minutes) runs out; so such a channel is never reused: after a connection-level failure,
 * and before a call finds it in that state, it is replaced by a fresh one that connects anew. A restarted pod is
 * therefore used again by the very next call.
 *
 * <p>Compute calls travel on one long-lived {@link ComputeStream} per pod; when it ends (pod stopped, connection
 * lost) its calls fail with its status and the next call opens a new one, on a fresh channel if the old one failed.
 */
final class ShardEndpoint implements AutoCloseable {
    static final int MAX_MESSAGE_BYTES = 256 << 20;
    /**
     * The HTTP/2 receive window for replies: a layer's reply (up to rows x hidden x 4 bytes, 10 MiB for 512 rows of
     * V2's 5120) arrives without waiting for WINDOW_UPDATE round trips (gRPC's default is 1 MiB).
     */
    static final int FLOW_CONTROL_WINDOW = 16 << 20;

    private final String address;
    private final String host;
    private final int port;
    private final Optional<InternalTls> tls;
    private final AtomicReference<ManagedChannel> channel;
    private final AtomicReference<ComputeStream> stream = new AtomicReference<>();
    private volatile ShardInfo info;
    private volatile String state = "not contacted yet";
    private volatile long downSince;
    private volatile boolean closed;

    private ShardEndpoint(String address, String host, int port, Optional<InternalTls> tls) {
        this.address = address;
        this.host = host;
        this.port = port;
        this.tls = tls;
        this.channel = new AtomicReference<>(newChannel());
    }

    /**
     * An endpoint for {@code host:port} (an IPv6 host in brackets, {@code [::1]:9090}), over mTLS when {@code tls}
     * is set, else plaintext.
     *
     * @throws IllegalArgumentException naming {@code dsv2.router.experts} and the bad entry
     */
    static ShardEndpoint parse(String address, Optional<InternalTls> tls) {
        String a = address.trim();
        int colon = a.lastIndexOf(':');
        String host = colon > 0 ? a.substring(0, colon) : "";
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port = -1;
        try {
            port = colon > 0 ? Integer.parseInt(a.substring(colon + 1)) : -1;
        } catch (NumberFormatException e) {
            // reported below
        }
        if (host.isEmpty() || port < 1 || port > 65535) {
            throw new IllegalArgumentException("dsv2.router.experts (DSV2_ROUTER_EXPERTS): '" + address
                    + "' is not host:port (expected a comma list such as expert-0:9090,expert-1:9090)");
        }
        return new ShardEndpoint(a, host, port, tls);
    }

    /**
     * A channel whose callbacks run on its Netty event loop ({@code directExecutor}): every callback here completes a
     * future or sends on a stream without blocking, so a reply reaches the waiting router thread with one thread
     * hand-off fewer than through gRPC's default executor. TCP_NODELAY is Netty's default.
     */
    private ManagedChannel newChannel() {
        return InternalTls.nettyChannelBuilder(host, port, tls).maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .flowControlWindow(FLOW_CONTROL_WINDOW).directExecutor().build();
    }

    String address() {
        return address;
    }

    /** What this pod answered to Info once ready and compatible, or null. */
    ShardInfo info() {
        return info;
    }

    void accept(ShardInfo ready) {
        this.info = ready;
        this.state = "shard " + ready.getShardIndex() + "/" + ready.getShardCount();
    }

    /** A short description for logs: "shard 1/2", "loading", "UNAVAILABLE: ...", "rejected: ...". */
    String state() {
        return state;
    }

    void setState(String state) {
        this.state = state;
    }

    boolean healthy() {
        return downSince == 0;
    }

    long downSince() {
        return downSince;
    }

    /** Asks the pod for its ShardInfo (blocking, bounded by {@code timeout}). */
    ShardInfo fetchInfo(Duration timeout) {
        ManagedChannel ch = usableChannel();
        try {
            return ExpertsGrpc.newBlockingStub(ch).withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS)
                    .info(ShardInfoRequest.getDefaultInstance());
        } catch (StatusRuntimeException e) {
            afterFailure(ch, e.getStatus());
            throw e;
        }
    }

    /**
     * The channel for the next call: a channel stuck in TRANSIENT_FAILURE (its last connection attempts failed, it
     * would fail this call at once and keep backing off) is replaced by a fresh one that connects for this call.
     */
    private ManagedChannel usableChannel() {
        ManagedChannel ch = channel.get();
        if (!closed && ch.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
            replace(ch);
            ch = channel.get();
        }
        return ch;
    }

    /**
     * Sends one call on this pod's compute stream (opened on first use and again after it ends); the future fails
     * with the call's {@link StatusRuntimeException}.
     */
    CompletableFuture<ComputeStream.Reply> compute(ExpertRequest request, Duration timeout) {
        return stream().send(request, timeout);
    }

    /** The open compute stream, or a new one on a usable channel when there is none or it ended. */
    private ComputeStream stream() {
        ComputeStream s = stream.get();
        if (s != null && !s.ended()) {
            return s;
        }
        synchronized (stream) {
            s = stream.get();
            if (s == null || s.ended()) {
                ManagedChannel ch = usableChannel();
                ComputeStream[] self = new ComputeStream[1];
                self[0] = new ComputeStream(ch, address, status -> {
                    stream.compareAndSet(self[0], null);
                    afterFailure(ch, status);
                });
                s = self[0];
                stream.set(s);
            }
            return s;
        }
    }

    void markUp() {
        downSince = 0;
    }

    void markDown(String why) {
        if (downSince == 0) {
            downSince = System.nanoTime();
        }
        state = why;
    }

    /** Replaces {@code used} by a fresh channel when its connection, not the server, failed. */
    private void afterFailure(ManagedChannel used, Status status) {
        if (closed || status.getCode() != Status.Code.UNAVAILABLE) {
            return;
        }
        ConnectivityState s = used.getState(false);
        if (s == ConnectivityState.TRANSIENT_FAILURE || s == ConnectivityState.IDLE) {
            replace(used);
        }
    }

    private void replace(ManagedChannel used) {
        ManagedChannel fresh = newChannel();
        if (channel.compareAndSet(used, fresh)) {
            used.shutdownNow();
        } else {
            fresh.shutdownNow();
        }
    }

    @Override
    public void close() {
        closed = true;
        ComputeStream s = stream.get();
        if (s != null) {
            s.close();
        }
        channel.get().shutdownNow();
    }

    /** A gRPC status for logs and errors: the code, its description, and the cause's message when it adds one. */
    static String describe(Status s) {
        String d = s.getDescription();
        Throwable c = s.getCause();
        String cause = c == null || c.getMessage() == null || (d != null && d.contains(c.getMessage())) ? ""
                : " (" + c.getMessage() + ")";
        return s.getCode() + (d == null ? "" : ": " + d) + cause;
    }

    @Override
    public String toString() {
        return address;
    }
}
