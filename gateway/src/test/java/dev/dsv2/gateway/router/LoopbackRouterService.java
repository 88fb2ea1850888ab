package dev.dsv2.gateway.router;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.ServingException;
import dev.dsv2.proto.internal.v1.Completion;
import dev.dsv2.proto.internal.v1.ErrorInfo;
import dev.dsv2.proto.internal.v1.RouterAbortRequest;
import dev.dsv2.proto.internal.v1.RouterAbortResponse;
import dev.dsv2.proto.internal.v1.RouterEvent;
import dev.dsv2.proto.internal.v1.RouterGrpc;
import dev.dsv2.proto.internal.v1.RouterStatusRequest;
import dev.dsv2.proto.internal.v1.TokenEvent;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

import java.util.HashSet;

/**
 * The internal Router API served from an {@link EmbeddedRouter}, as a router-service does: the far end for
 * {@link GrpcRouterClient} tests. A cancelled call aborts its request, so tests can see the cache freed.
 */
final class LoopbackRouterService extends RouterGrpc.RouterImplBase {
    private final EmbeddedRouter router;

    LoopbackRouterService(EmbeddedRouter router) {
        this.router = router;
    }

    @Override
    public void generate(dev.dsv2.proto.internal.v1.RouterRequest request, StreamObserver<RouterEvent> events) {
        ServerCallStreamObserver<RouterEvent> call = (ServerCallStreamObserver<RouterEvent>) events;
        call.setOnCancelHandler(() -> router.abort(request.getRequestId()));
        var s = request.getSampling();
        SamplingParams.Builder params = SamplingParams.builder().temperature(s.getTemperature()).topP(s.getTopP())
                .topK(s.getTopK()).maxTokens(s.getMaxTokens()).ignoreEos(s.getIgnoreEos()).logprobs(s.getLogprobs())
                .stopTokenIds(new HashSet<>(s.getStopTokenIdsList()));
        if (s.hasSeed()) {
            params.seed(s.getSeed());
        }
        try {
            router.generate(new RouterRequest(request.getRequestId(), request.getPromptIdsList().stream()
                    .mapToInt(Integer::intValue).toArray(), params.build()), new RouterListener() {
                @Override
                public void onToken(int tokenId, float logprob, TopLogprobs top) {
                    TokenEvent.Builder t = TokenEvent.newBuilder().setTokenId(tokenId);
                    if (top != null) {
                        t.setLogprob(logprob);
                        for (int r = 0; r < top.size(); r++) {
                            t.addTopIds(top.id(r)).addTopLogprobs(top.logprob(r));
                        }
                    }
                    if (!call.isCancelled()) {
                        call.onNext(RouterEvent.newBuilder().setToken(t).build());
                    }
                }

                @Override
                public void onComplete(FinishReason reason, int promptTokens, int completionTokens) {
                    if (!call.isCancelled()) {
                        call.onNext(RouterEvent.newBuilder().setComplete(Completion.newBuilder()
                                .setFinishReason(reason.openAiName()).setPromptTokens(promptTokens)
                                .setCompletionTokens(completionTokens)).build());
                        call.onCompleted();
                    }
                }

                @Override
                public void onError(ErrorKind kind, String message) {
                    if (!call.isCancelled()) {
                        call.onNext(RouterEvent.newBuilder().setError(ErrorInfo.newBuilder()
                                .setCode(code(kind).value()).setMessage(message)).build());
                        call.onCompleted();
                    }
                }
            });
        } catch (ServingException e) {
            call.onError(Status.fromCode(code(e.kind())).withDescription(e.getMessage()).asRuntimeException());
        }
    }

    static Status.Code code(ErrorKind kind) {
        return switch (kind) {
            case INVALID_ARGUMENT -> Status.Code.INVALID_ARGUMENT;
            case RESOURCE_EXHAUSTED -> Status.Code.RESOURCE_EXHAUSTED;
            case UNAVAILABLE -> Status.Code.UNAVAILABLE;
            case INTERNAL -> Status.Code.INTERNAL;
        };
    }

    @Override
    public void abort(RouterAbortRequest request, StreamObserver<RouterAbortResponse> response) {
        response.onNext(RouterAbortResponse.newBuilder().setFound(router.abort(request.getRequestId())).build());
        response.onCompleted();
    }

    @Override
    public void status(RouterStatusRequest request, StreamObserver<dev.dsv2.proto.internal.v1.RouterStatus> out) {
        RouterStatus s = router.status();
        out.onNext(dev.dsv2.proto.internal.v1.RouterStatus.newBuilder().setReady(s.ready()).setRunning(s.running())
                .setWaiting(s.waiting()).setKvBlocksTotal(s.kvBlocksTotal()).setKvBlocksUsed(s.kvBlocksUsed())
                .setKvBlockSize(s.kvBlockSize()).setContextLimit(s.contextLimit()).setVocabSize(s.vocabSize())
                .setModel("tiny").build());
        out.onCompleted();
    }
}
