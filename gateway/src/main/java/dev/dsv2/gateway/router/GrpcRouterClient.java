package dev.dsv2.gateway.router;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.proto.internal.v1.RouterEvent;
import dev.dsv2.proto.internal.v1.RouterGrpc;
import dev.dsv2.proto.internal.v1.RouterStatusRequest;
import dev.dsv2.proto.internal.v1.TokenEvent;
import dev.dsv2.proto.tls.InternalTls;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * {@code dsv2.gateway.router=host:port}: a router-service over the internal {@code dsv2.internal.v1.Router} API.
 * One server-streaming {@code Generate} call per request; {@link #abort} cancels that call, which the router treats
 * as an abort (it frees the sequence's cache blocks), and the listener completes with {@code abort} at once.
 * Transport failures become {@link RouterListener#onError} with the router's address in the message.
 */
public final class GrpcRouterClient implements RouterClient {
    private static final long STATUS_DEADLINE_MS = 2_000;

    private final String target;
    private final ManagedChannel channel;
    private final RouterGrpc.RouterStub async;
    private final RouterGrpc.RouterBlockingStub blocking;
    private final Map<String, Call> calls = new ConcurrentHashMap<>();

    /** @param target {@code host:port} of the router's gRPC server, over plaintext */
    public GrpcRouterClient(String target) {
        this(target, Optional.empty());
    }

    /**
     * @param target {@code host:port} of the router's gRPC server
     * @param tls    mTLS to the router ({@code dsv2.internal-tls.*}), or empty for plaintext
     */
    public GrpcRouterClient(String target, Optional<InternalTls> tls) {
        this.target = target;
        this.channel = InternalTls.channelBuilder(target, tls).build();
        this.async = RouterGrpc.newStub(channel);
        this.blocking = RouterGrpc.newBlockingStub(channel);
    }

    /**
     * One in-flight Generate call. gRPC serializes its callbacks; they and {@link #abort} (from any thread) also hold
     * this call's monitor, so the listener never sees two events at once nor anything after the end.
     */
    private final class Call implements ClientResponseObserver<dev.dsv2.proto.internal.v1.RouterRequest, RouterEvent> {
        final String id;
        final int promptTokens;
        final boolean logprobs;
        final RouterListener listener;
        ClientCallStreamObserver<dev.dsv2.proto.internal.v1.RouterRequest> stream;
        int generated;
        boolean done;

        Call(RouterRequest request, RouterListener listener) {
            this.id = request.requestId();
            this.promptTokens = request.promptIds().length;
            this.logprobs = request.params().logprobs() > 0;
            this.listener = listener;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<dev.dsv2.proto.internal.v1.RouterRequest> requestStream) {
            this.stream = requestStream;
        }

        @Override
        public synchronized void onNext(RouterEvent event) {
            switch (event.getKindCase()) {
                case TOKEN -> {
                    TokenEvent t = event.getToken();
                    if (done) {
                        return;
                    }
                    generated++;
                    TopLogprobs top = null;
                    if (logprobs) {
                        int[] ids = t.getTopIdsList().stream().mapToInt(Integer::intValue).toArray();
                        float[] lps = new float[t.getTopLogprobsCount()];
                        for (int i = 0; i < lps.length; i++) {
                            lps[i] = t.getTopLogprobs(i);
                        }
                        top = new TopLogprobs(ids, lps);
                    }
                    listener.onToken(t.getTokenId(), logprobs ? t.getLogprob() : Float.NaN, top);
                }
                case COMPLETE -> {
                    if (finish()) {
                        var c = event.getComplete();
                        listener.onComplete(finishReason(c.getFinishReason()), c.getPromptTokens(),
                                c.getCompletionTokens());
                    }
                }
                case ERROR -> {
                    if (finish()) {
                        listener.onError(errorKind(Status.fromCodeValue(event.getError().getCode()).getCode()),
                                event.getError().getMessage());
                    }
                }
                case KIND_NOT_SET -> {
                    if (finish()) {
                        listener.onError(ErrorKind.INTERNAL, "router " + target + " sent an empty event for request "
                                + id);
                    }
                }
            }
        }

        @Override
        public synchronized void onError(Throwable t) {
            if (finish()) {
                Status s = Status.fromThrowable(t);
                String why = s.getDescription() != null ? s.getDescription() : String.valueOf(s.getCause());
                listener.onError(errorKind(s.getCode()), s.getCode() == Status.Code.UNAVAILABLE
                        ? "router " + target + " is unreachable: " + why : why);
            }
        }

        @Override
        public synchronized void onCompleted() {
            if (finish()) {
                listener.onError(ErrorKind.INTERNAL, "router " + target + " ended request " + id
                        + " without a completion event");
            }
        }

        /** Marks the call finished; true for the one caller that may report the end. */
        synchronized boolean finish() {
            calls.remove(id, this);
            if (done) {
                return false;
            }
            done = true;
            return true;
        }

        synchronized void abort() {
            if (finish()) {
                if (stream != null) {
                    stream.cancel("aborted by the gateway", null);
                }
                listener.onComplete(FinishReason.ABORT, promptTokens, generated);
            }
        }
    }

    @Override
    public void generate(RouterRequest request, RouterListener listener) {
        Call call = new Call(request, listener);
        if (calls.putIfAbsent(request.requestId(), call) != null) {
            throw new dev.dsv2.engine.serve.ServingException(ErrorKind.INVALID_ARGUMENT, "request_id "
                    + request.requestId() + " is already in flight");
        }
        dev.dsv2.proto.internal.v1.RouterRequest.Builder msg = dev.dsv2.proto.internal.v1.RouterRequest.newBuilder()
                .setRequestId(request.requestId()).setSampling(toProto(request.params()));
        for (int id : request.promptIds()) {
            msg.addPromptIds(id);
        }
        async.generate(msg.build(), call);
    }

    static dev.dsv2.proto.internal.v1.SamplingParams toProto(SamplingParams p) {
        var b = dev.dsv2.proto.internal.v1.SamplingParams.newBuilder()
                .setTemperature((float) p.temperature()).setTopP((float) p.topP()).setTopK(p.topK())
                .setMaxTokens(p.maxTokens()).setIgnoreEos(p.ignoreEos()).setLogprobs(p.logprobs())
                .addAllStopTokenIds(p.stopTokenIds());
        p.seed().ifPresent(b::setSeed);
        return b.build();
    }

    static FinishReason finishReason(String name) {
        try {
            return FinishReason.fromOpenAiName(name);
        } catch (IllegalArgumentException e) {
            return FinishReason.ERROR;
        }
    }

    static ErrorKind errorKind(Status.Code code) {
        return switch (code) {
            case INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION -> ErrorKind.INVALID_ARGUMENT;
            case RESOURCE_EXHAUSTED -> ErrorKind.RESOURCE_EXHAUSTED;
            case UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED -> ErrorKind.UNAVAILABLE;
            default -> ErrorKind.INTERNAL;
        };
    }

    @Override
    public boolean abort(String requestId) {
        Call call = calls.get(requestId);
        if (call == null) {
            return false;
        }
        call.abort();
        return true;
    }

    @Override
    public RouterStatus status() {
        try {
            var s = blocking.withDeadlineAfter(STATUS_DEADLINE_MS, TimeUnit.MILLISECONDS)
                    .status(RouterStatusRequest.getDefaultInstance());
            return new RouterStatus(s.getReady(), s.getRunning(), s.getWaiting(), s.getKvBlocksTotal(),
                    s.getKvBlocksUsed(), s.getKvBlockSize(), s.getContextLimit(), s.getVocabSize(),
                    s.getReady() ? "" : "router " + target + " reports not ready (loading weights or an expert "
                            + "shard unreachable)");
        } catch (StatusRuntimeException e) {
            return RouterStatus.notReady("router " + target + " is unreachable: " + e.getStatus().getCode()
                    + (e.getStatus().getDescription() == null ? "" : " " + e.getStatus().getDescription()));
        }
    }

    @Override
    public String describe() {
        return target;
    }

    @Override
    public void close() {
        calls.values().forEach(Call::abort);
        channel.shutdown();
        try {
            if (!channel.awaitTermination(5, TimeUnit.SECONDS)) {
                channel.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            channel.shutdownNow();
        }
    }
}
