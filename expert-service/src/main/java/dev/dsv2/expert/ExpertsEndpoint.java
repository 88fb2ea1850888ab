package dev.dsv2.expert;

import dev.dsv2.engine.model.ExpertShard;
import dev.dsv2.proto.internal.v1.ExpertRequest;
import dev.dsv2.proto.internal.v1.ExpertResponse;
import dev.dsv2.proto.internal.v1.ExpertsGrpc;
import dev.dsv2.proto.internal.v1.ShardInfo;
import dev.dsv2.proto.internal.v1.ShardInfoRequest;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;

import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The {@code dsv2.internal.v1.Experts} service of one shard, framework-free (Quarkus registers a subclass; tests
 * and embedded deployments put it in a plain grpc-java server).
 *
 * <p>{@code Compute} never runs on the transport thread: calls are handed to {@code compute}, a bounded executor;
 * when its queue is full the call fails with RESOURCE_EXHAUSTED, and a call whose client has gone (cancelled,
 * deadline passed) while it waited is dropped. Status codes: INVALID_ARGUMENT for a malformed request (the message
 * names the field), UNAVAILABLE while the weights load, INTERNAL for anything unexpected.
 */
public class ExpertsEndpoint extends ExpertsGrpc.ExpertsImplBase {
    private static final Logger LOG = Logger.getLogger(ExpertsEndpoint.class.getName());

    private final ServedShard served;
    private final Executor compute;
    private final ExpertMetrics metrics;

    public ExpertsEndpoint(ServedShard served, Executor compute, ExpertMetrics metrics) {
        this.served = served;
        this.compute = compute;
        this.metrics = metrics;
    }

    @Override
    public void compute(ExpertRequest request, StreamObserver<ExpertResponse> responses) {
        Context context = Context.current();
        try {
            compute.execute(() -> {
                if (context.isCancelled()) {
                    return;
                }
                respond(request, responses);
            });
        } catch (RejectedExecutionException e) {
            responses.onError(Status.RESOURCE_EXHAUSTED.withDescription(served.settings().label()
                    + " is saturated: its compute queue is full; retry on another replica or later").asRuntimeException());
        }
    }

    private void respond(ExpertRequest request, StreamObserver<ExpertResponse> responses) {
        ExpertResponse response;
        try {
            response = computeNow(request);
        } catch (StatusRuntimeException e) {
            responses.onError(e);
            return;
        } catch (IllegalArgumentException e) {
            responses.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
            return;
        } catch (RuntimeException | Error e) {
            LOG.log(Level.SEVERE, served.settings().label() + ": Compute of layer " + request.getLayer() + " failed", e);
            responses.onError(Status.INTERNAL.withDescription(served.settings().label() + ": Compute of layer "
                    + request.getLayer() + " failed: " + e).asRuntimeException());
            return;
        }
        responses.onNext(response);
        responses.onCompleted();
    }

    /** Validates, computes and encodes one call on the calling thread. */
    ExpertResponse computeNow(ExpertRequest request) {
        ExpertShard shard = served.shard();
        long t0 = System.nanoTime();
        ComputeRequest call = ComputeRequest.of(request, shard);
        int hidden = shard.config().hiddenSize();
        float[] out = new float[call.rows() * hidden];
        shard.compute(call.layer(), call.x(), call.rows(), call.ids(), call.weights(), call.topK(),
                call.includeShared(), out);
        ExpertResponse response = ExpertResponse.newBuilder()
                .setOutput(WireTensors.f32(out, call.rows(), hidden)).build();
        metrics.record(call, System.nanoTime() - t0);
        return response;
    }

    @Override
    public void info(ShardInfoRequest request, StreamObserver<ShardInfo> responses) {
        responses.onNext(served.info());
        responses.onCompleted();
    }
}
