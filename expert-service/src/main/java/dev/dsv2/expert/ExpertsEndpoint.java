package dev.dsv2.expert;

import dev.dsv2.engine.model.ExpertShard;
import dev.dsv2.engine.serve.WakeLatency;
import dev.dsv2.proto.internal.v1.CallError;
import dev.dsv2.proto.internal.v1.ExpertRequest;
import dev.dsv2.proto.internal.v1.ExpertResponse;
import dev.dsv2.proto.internal.v1.ExpertsGrpc;
import dev.dsv2.proto.internal.v1.ShardInfo;
import dev.dsv2.proto.internal.v1.ShardInfoRequest;
import dev.dsv2.proto.internal.v1.ShardTiming;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;

import java.time.Instant;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The {@code dsv2.internal.v1.Experts} service of one shard, framework-free (Quarkus registers a subclass; tests
 * and embedded deployments put it in a plain grpc-java server).
 *
 * <p>Calls arrive as unary {@code Compute} RPCs or on a router's long-lived {@code ComputeStream} (one per router and
 * pod, every layer's call on it, answered by {@code call_id} in completion order). Either way a call never runs on
 * the transport thread: it is handed to {@code compute}, a bounded executor; when its queue is full the call fails
 * with RESOURCE_EXHAUSTED, and a call whose client has gone (cancelled, deadline passed, stream closed) while it
 * waited is dropped. Status codes: INVALID_ARGUMENT for a malformed request (the message names the field),
 * UNAVAILABLE while the weights load, INTERNAL for anything unexpected; on the stream a failed call is answered with
 * that code in {@code error} and the stream stays open. Every answer carries the shard's side of the call's timeline
 * ({@link ShardTiming}: queue, decode, compute, encode, and wall-clock stamps).
 */
public class ExpertsEndpoint extends ExpertsGrpc.ExpertsImplBase {
    private static final Logger LOG = Logger.getLogger(ExpertsEndpoint.class.getName());

    /**
     * The HTTP/2 receive window a shard's server should have: a layer's request (up to rows x hidden x 4 bytes) then
     * arrives without waiting for WINDOW_UPDATE round trips (gRPC's default is 1 MiB).
     */
    public static final int FLOW_CONTROL_WINDOW = 16 << 20;

    private final ServedShard served;
    private final Executor compute;
    private final ExpertMetrics metrics;
    private final ThreadLocal<float[]> outputs = ThreadLocal.withInitial(() -> new float[0]);

    public ExpertsEndpoint(ServedShard served, Executor compute, ExpertMetrics metrics) {
        this.served = served;
        this.compute = compute;
        this.metrics = metrics;
    }

    @Override
    public void compute(ExpertRequest request, StreamObserver<ExpertResponse> responses) {
        Context context = Context.current();
        submit(request, context::isCancelled, responses::onNext, responses::onCompleted, responses::onError);
    }

    @Override
    public StreamObserver<ExpertRequest> computeStream(StreamObserver<ExpertResponse> responses) {
        metrics.streamOpened();
        return new StreamObserver<>() {
            private volatile boolean open = true;

            @Override
            public void onNext(ExpertRequest request) {
                long id = request.getCallId();
                submit(request, () -> !open, this::send, () -> { }, e -> send(ExpertResponse.newBuilder().setCallId(id)
                        .setError(CallError.newBuilder().setCode(e.getStatus().getCode().value())
                                .setMessage(e.getStatus().getDescription() == null ? ""
                                        : e.getStatus().getDescription())).build()));
            }

            private void send(ExpertResponse response) {
                synchronized (this) { // a StreamObserver is not thread-safe; answers come from several threads
                    if (open) {
                        responses.onNext(response);
                    }
                }
            }

            @Override
            public void onError(Throwable t) {
                open = false; // the router went away; calls still queued are dropped
            }

            @Override
            public void onCompleted() {
                synchronized (this) {
                    open = false;
                    responses.onCompleted();
                }
            }
        };
    }

    /** Hands one call to the compute executor; exactly one of {@code answer} (then {@code done}) or {@code fail} runs. */
    private void submit(ExpertRequest request, java.util.function.BooleanSupplier gone, Consumer<ExpertResponse> answer,
                        Runnable done, Consumer<StatusRuntimeException> fail) {
        WakeLatency.markTransportThread(); // the receiving event loop: runs briefly, should run soon when woken
        long received = System.nanoTime();
        long receivedUnix = unixNanos();
        try {
            compute.execute(() -> {
                if (gone.getAsBoolean()) {
                    return;
                }
                ExpertResponse response;
                try {
                    response = computeNow(request, received, receivedUnix);
                } catch (StatusRuntimeException e) {
                    fail.accept(e);
                    return;
                }
                answer.accept(response);
                done.run();
            });
        } catch (RejectedExecutionException e) {
            fail.accept(Status.RESOURCE_EXHAUSTED.withDescription(served.settings().label()
                    + " is saturated: its compute queue is full; retry on another replica or later").asRuntimeException());
        }
    }

    /** Validates, computes and encodes one call on the calling thread; failures as the status the caller gets. */
    ExpertResponse computeNow(ExpertRequest request, long received, long receivedUnix) {
        try {
            return timedCompute(request, received, receivedUnix);
        } catch (StatusRuntimeException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException();
        } catch (RuntimeException | Error e) {
            LOG.log(Level.SEVERE, served.settings().label() + ": Compute of layer " + request.getLayer() + " failed", e);
            throw Status.INTERNAL.withDescription(served.settings().label() + ": Compute of layer "
                    + request.getLayer() + " failed: " + e).asRuntimeException();
        }
    }

    private ExpertResponse timedCompute(ExpertRequest request, long received, long receivedUnix) {
        ExpertShard shard = served.shard();
        long t0 = System.nanoTime();
        ComputeRequest call = ComputeRequest.of(request, shard);
        long t1 = System.nanoTime();
        int hidden = shard.config().hiddenSize();
        float[] out = outputBuffer(call.rows() * hidden);
        shard.compute(call.layer(), call.x(), call.rows(), call.ids(), call.weights(), call.topK(),
                call.includeShared(), out);
        long t2 = System.nanoTime();
        ExpertResponse.Builder response = ExpertResponse.newBuilder().setCallId(request.getCallId())
                .setOutput(WireTensors.encode(out, call.rows(), hidden, call.output()));
        long t3 = System.nanoTime();
        metrics.record(call, t3 - t0);
        return response.setTiming(ShardTiming.newBuilder().setQueueNanos(t0 - received).setDecodeNanos(t1 - t0)
                .setComputeNanos(t2 - t1).setEncodeNanos(t3 - t2).setReceivedUnixNanos(receivedUnix)
                .setRepliedUnixNanos(unixNanos())).build();
    }

    /** The calling compute thread's output buffer, grown as needed (encoded into the response before reuse). */
    private float[] outputBuffer(int size) {
        float[] b = outputs.get();
        if (b.length < size) {
            b = new float[Math.max(size, b.length + b.length / 2)];
            outputs.set(b);
        }
        return b;
    }

    /** Wall-clock time in nanoseconds since the epoch (microsecond resolution on Linux). */
    static long unixNanos() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    @Override
    public void info(ShardInfoRequest request, StreamObserver<ShardInfo> responses) {
        responses.onNext(served.info());
        responses.onCompleted();
    }
}
