package dev.dsv2.router;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.engine.serve.BatchScheduler;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.GenerationListener;
import dev.dsv2.engine.serve.ServingException;
import dev.dsv2.proto.internal.v1.Completion;
import dev.dsv2.proto.internal.v1.ErrorInfo;
import dev.dsv2.proto.internal.v1.RouterAbortRequest;
import dev.dsv2.proto.internal.v1.RouterAbortResponse;
import dev.dsv2.proto.internal.v1.RouterEvent;
import dev.dsv2.proto.internal.v1.RouterGrpc;
import dev.dsv2.proto.internal.v1.RouterRequest;
import dev.dsv2.proto.internal.v1.RouterStatus;
import dev.dsv2.proto.internal.v1.RouterStatusRequest;
import dev.dsv2.proto.internal.v1.TokenEvent;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

import java.util.HashSet;
import java.util.Set;
import java.util.UUID;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The {@code dsv2.internal.v1.Router} service, framework-free (Quarkus registers a subclass).
 *
 * <ul>
 *   <li>{@code Generate}: submits the request to the {@link BatchScheduler} and streams one {@code token} event per
 *       generated token, then one {@code complete} event. A request refused at submission (invalid parameters, prompt
 *       over the context limit, more than the whole KV cache, queue full, router not ready) fails the call with the
 *       matching gRPC status and the scheduler's message. A request that fails later (e.g. an expert shard became
 *       unreachable during its step) gets a final {@code error} event (gRPC code + message) and the stream ends
 *       normally. When the client cancels the stream the request is aborted at once, freeing its cache blocks.</li>
 *   <li>{@code Abort}: aborts by request id (its stream completes with finish_reason "abort").</li>
 *   <li>{@code Status}: scheduler and cache figures.</li>
 * </ul>
 * Proto3 defaults mean "unset": {@code top_p} 0 is 1 (off), {@code max_tokens} 0 is "up to the context limit"
 * (or the whole KV cache when that is smaller),
 * {@code temperature} 0 is greedy, an empty {@code request_id} gets a generated one.
 */
public class RouterEndpoint extends RouterGrpc.RouterImplBase {
    private static final Logger LOG = Logger.getLogger(RouterEndpoint.class.getName());

    private final RouterEngine engine;
    private final RouterMetrics metrics;

    public RouterEndpoint(RouterEngine engine, RouterMetrics metrics) {
        this.engine = engine;
        this.metrics = metrics;
    }

    /** The gRPC status for an engine error kind. */
    public static Status.Code code(ErrorKind kind) {
        return switch (kind) {
            case INVALID_ARGUMENT -> Status.Code.INVALID_ARGUMENT;
            case RESOURCE_EXHAUSTED -> Status.Code.RESOURCE_EXHAUSTED;
            case UNAVAILABLE -> Status.Code.UNAVAILABLE;
            case INTERNAL -> Status.Code.INTERNAL;
        };
    }

    private static StatusRuntimeException status(ServingException e) {
        return Status.fromCode(code(e.kind())).withDescription(e.getMessage()).asRuntimeException();
    }

    /**
     * The engine's sampling parameters for {@code p} (proto3 zeros read as "unset", see the class doc);
     * {@code room} is the most tokens one sequence can hold (context limit, or the whole KV cache if smaller).
     */
    static SamplingParams samplingParams(dev.dsv2.proto.internal.v1.SamplingParams p, int promptTokens, int room) {
        Set<Integer> stopIds = new HashSet<>(p.getStopTokenIdsList());
        SamplingParams.Builder b = SamplingParams.builder()
                .temperature(p.getTemperature())
                .topP(p.getTopP() == 0f ? 1.0 : p.getTopP())
                .topK(p.getTopK())
                .maxTokens(p.getMaxTokens() != 0 ? p.getMaxTokens() : Math.max(1, room - promptTokens))
                .stopTokenIds(stopIds)
                .ignoreEos(p.getIgnoreEos())
                .logprobs(p.getLogprobs());
        if (p.hasSeed()) {
            b.seed(p.getSeed());
        }
        return b.build();
    }

    @Override
    public void generate(RouterRequest request, StreamObserver<RouterEvent> responses) {
        ServerCallStreamObserver<RouterEvent> call = (ServerCallStreamObserver<RouterEvent>) responses;
        BatchScheduler scheduler;
        SamplingParams params;
        int[] prompt = request.getPromptIdsList().stream().mapToInt(Integer::intValue).toArray();
        try {
            scheduler = engine.scheduler();
            BatchScheduler.Stats stats = scheduler.stats();
            int room = (int) Math.min(engine.contextLimit(), (long) stats.totalBlocks() * stats.blockSize());
            params = samplingParams(request.getSampling(), prompt.length, room);
        } catch (ServingException e) {
            responses.onError(status(e));
            return;
        } catch (IllegalArgumentException e) {
            responses.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
            return;
        }
        String id = request.getRequestId().isEmpty() ? "router-" + UUID.randomUUID() : request.getRequestId();
        Stream stream = new Stream(id, call);
        call.setOnCancelHandler(() -> {
            if (!stream.ended) {
                scheduler.abort(id);
            }
        });
        try {
            scheduler.submit(id, prompt, params, stream);
        } catch (ServingException e) {
            stream.ended = true;
            responses.onError(status(e));
            return;
        }
        if (call.isCancelled()) {
            scheduler.abort(id);
        }
    }

    /** One request's events onto its gRPC stream (called on the scheduler thread). */
    private final class Stream implements GenerationListener {
        private final String id;
        private final ServerCallStreamObserver<RouterEvent> call;
        private final long startNanos = System.nanoTime();
        private long lastTokenNanos;
        volatile boolean ended;

        Stream(String id, ServerCallStreamObserver<RouterEvent> call) {
            this.id = id;
            this.call = call;
        }

        private void send(RouterEvent event) {
            if (call.isCancelled()) {
                return;
            }
            try {
                call.onNext(event);
            } catch (StatusRuntimeException | IllegalStateException e) {
                LOG.log(Level.FINE, "stream of " + id + " is gone", e);
            }
        }

        @Override
        public void onToken(int tokenId, float logprob, TopLogprobs top) {
            long now = System.nanoTime();
            metrics.onToken(lastTokenNanos == 0 ? -1 : now - lastTokenNanos, lastTokenNanos == 0 ? now - startNanos : -1);
            lastTokenNanos = now;
            TokenEvent.Builder t = TokenEvent.newBuilder().setTokenId(tokenId);
            if (!Float.isNaN(logprob)) {
                t.setLogprob(logprob);
            }
            if (top != null) {
                for (int r = 0; r < top.size(); r++) {
                    t.addTopIds(top.id(r)).addTopLogprobs(top.logprob(r));
                }
            }
            send(RouterEvent.newBuilder().setToken(t).build());
        }

        @Override
        public void onComplete(FinishReason reason, int promptTokens, int completionTokens) {
            ended = true;
            metrics.onComplete(promptTokens, completionTokens, System.nanoTime() - startNanos);
            send(RouterEvent.newBuilder().setComplete(Completion.newBuilder().setFinishReason(reason.openAiName())
                    .setPromptTokens(promptTokens).setCompletionTokens(completionTokens)).build());
            finish();
        }

        @Override
        public void onError(ErrorKind kind, String message) {
            ended = true;
            send(RouterEvent.newBuilder().setError(ErrorInfo.newBuilder().setCode(code(kind).value())
                    .setMessage(message)).build());
            finish();
        }

        private void finish() {
            if (call.isCancelled()) {
                return;
            }
            try {
                call.onCompleted();
            } catch (StatusRuntimeException | IllegalStateException e) {
                LOG.log(Level.FINE, "stream of " + id + " is gone", e);
            }
        }
    }

    @Override
    public void abort(RouterAbortRequest request, StreamObserver<RouterAbortResponse> responses) {
        BatchScheduler s = engine.schedulerOrNull();
        boolean found = s != null && s.abort(request.getRequestId());
        responses.onNext(RouterAbortResponse.newBuilder().setFound(found).build());
        responses.onCompleted();
    }

    @Override
    public void status(RouterStatusRequest request, StreamObserver<RouterStatus> responses) {
        RouterStatus.Builder b = RouterStatus.newBuilder()
                .setContextLimit(engine.contextLimit())
                .setVocabSize(engine.config().vocabSize())
                .setReady(engine.ready())
                .setModel(engine.modelName());
        BatchScheduler s = engine.schedulerOrNull();
        if (s != null) {
            BatchScheduler.Stats st = s.stats();
            b.setRunning(st.running()).setWaiting(st.waiting()).setKvBlocksTotal(st.totalBlocks())
                    .setKvBlocksUsed(st.usedBlocks()).setKvBlockSize(st.blockSize());
        }
        responses.onNext(b.build());
        responses.onCompleted();
    }
}
