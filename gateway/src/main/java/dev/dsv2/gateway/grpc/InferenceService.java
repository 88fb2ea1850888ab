package dev.dsv2.gateway.grpc;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.core.Caller;
import dev.dsv2.gateway.core.GenerationService;
import dev.dsv2.gateway.core.GenerationSink;
import dev.dsv2.gateway.core.InFlightLimit;
import dev.dsv2.gateway.core.Interactive;
import dev.dsv2.gateway.core.OutputOptions;
import dev.dsv2.gateway.core.Prompts;
import dev.dsv2.gateway.core.RequestHandle;
import dev.dsv2.gateway.core.SequenceSpec;
import dev.dsv2.gateway.core.ServingObserver.Outcome;
import dev.dsv2.gateway.core.TokenLogprob;
import dev.dsv2.gateway.core.Usage;
import dev.dsv2.gateway.guard.FairAdmission;
import dev.dsv2.gateway.guard.GrpcGuard;
import dev.dsv2.gateway.guard.TokenizerGate;
import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.proto.v1.AbortRequest;
import dev.dsv2.proto.v1.AbortResponse;
import dev.dsv2.proto.v1.DetokenizeRequest;
import dev.dsv2.proto.v1.DetokenizeResponse;
import dev.dsv2.proto.v1.GenerateChunk;
import dev.dsv2.proto.v1.GenerateRequest;
import dev.dsv2.proto.v1.InferenceGrpc;
import dev.dsv2.proto.v1.ListModelsRequest;
import dev.dsv2.proto.v1.ListModelsResponse;
import dev.dsv2.proto.v1.ModelInfo;
import dev.dsv2.proto.v1.TokenizeRequest;
import dev.dsv2.proto.v1.TokenizeResponse;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import jakarta.inject.Inject;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The public gRPC API {@code dsv2.v1.Inference}. {@code Generate} validates with the OpenAI API's names and ranges,
 * tokenizes at the edge, sends ids to the router and streams chunks: the first carries {@code prompt_ids}, then one
 * per generated token (ids, text delta, logprobs when asked), the last {@code finish_reason} and usage. A client
 * that cancels its call aborts the router request. Errors are status codes whose message names the field.
 */
@GrpcService
public class InferenceService extends InferenceGrpc.InferenceImplBase {
    static final String API = "grpc";

    @Inject
    GenerationService generations;

    @Inject
    @Interactive
    InFlightLimit interactive;

    @Inject
    FairAdmission admission;

    @Inject
    TokenizerGate tokenizerGate;

    @Override
    @Blocking
    public void generate(GenerateRequest request, StreamObserver<GenerateChunk> responses) {
        ServerCallStreamObserver<GenerateChunk> call = (ServerCallStreamObserver<GenerateChunk>) responses;
        AtomicReference<RequestHandle> running = new AtomicReference<>();
        call.setOnCancelHandler(() -> {
            RequestHandle h = running.get();
            if (h != null) {
                h.abort();
            }
        });
        Caller caller = GrpcGuard.caller();
        InFlightLimit.Permit permit = null;
        try {
            permit = interactive.acquireOrRefuse();
            ServedModel model = servedModel(request.getModel());
            String id = request.getRequestId().isEmpty() ? "gen-" + UUID.randomUUID() : request.getRequestId();
            if (generations.inFlight(caller, id)) {
                throw ApiError.invalid("request_id", "request_id " + Prompts.clip(id) + " is already in flight");
            }
            SequenceSpec spec = tokenizerGate.run(() -> sequence(request, model));
            permit.alsoRelease(admission.admit(caller.owner(), List.of(spec)));
            OutputOptions output = new OutputOptions(request.getIncludeSpecialTokens(), request.hasLogprobs(),
                    request.hasLogprobs() ? request.getLogprobs() : 0);
            GenerateChunk.Builder first = GenerateChunk.newBuilder().setRequestId(id);
            for (int t : spec.promptIds()) {
                first.addPromptIds(t);
            }
            // The first chunk goes out only once the request is accepted (a duplicate id is refused before any
            // chunk); the sink holds the router's events until then.
            ChunkSink sink = new ChunkSink(id, call, permit);
            running.set(generations.start(caller, id, API, List.of(spec), output, sink));
            sink.open(first.build());
            if (call.isCancelled()) {
                running.get().abort();
            }
        } catch (RuntimeException e) {
            if (permit != null) {
                permit.close();
            }
            if (e instanceof ApiError api) {
                generations.observer().request(API, Outcome.of(api.kind()));
            }
            responses.onError(GrpcErrors.toStatus(e));
        }
    }

    /** Validates and tokenizes a Generate request into its one sequence. */
    private SequenceSpec sequence(GenerateRequest request, ServedModel model) {
        int[] prompt;
        int defaultMax;
        String promptParam;
        switch (request.getInputCase()) {
            case PROMPT -> {
                promptParam = "prompt";
                prompt = Prompts.encodeText(model, request.getPrompt(), promptParam);
                defaultMax = SamplingParams.DEFAULT_MAX_TOKENS;
            }
            case PROMPT_IDS -> {
                promptParam = "prompt_ids";
                prompt = Prompts.checkIds(model, request.getPromptIds().getIdsList().stream()
                        .mapToInt(Integer::intValue).toArray(), promptParam);
                defaultMax = SamplingParams.DEFAULT_MAX_TOKENS;
            }
            case MESSAGES -> {
                promptParam = "messages";
                prompt = Prompts.encodeChat(model, GrpcRequests.messages(request.getMessages()), promptParam);
                defaultMax = Integer.MAX_VALUE;
            }
            default -> throw ApiError.invalid("prompt", "one of prompt, prompt_ids or messages is required");
        }
        SamplingParams.Builder sampling = GrpcRequests.sampling(request, model.vocabSize());
        int maxTokens = Prompts.maxTokens(prompt.length, request.hasMaxTokens()
                        ? OptionalInt.of(request.getMaxTokens()) : OptionalInt.empty(), defaultMax,
                model.contextLimit(), generations.cacheCapacityTokens(model), promptParam, "max_tokens");
        return new SequenceSpec(0, prompt, sampling.maxTokens(maxTokens).build());
    }

    /**
     * Streams one sequence's output as chunks; ends the call and releases the permit at the end. Events that arrive
     * before {@link #open} (the request's first chunk) are replayed after it, in order.
     */
    private final class ChunkSink implements GenerationSink {
        private final String id;
        private final ServerCallStreamObserver<GenerateChunk> call;
        private final InFlightLimit.Permit permit;
        private List<Runnable> held = new ArrayList<>();

        ChunkSink(String id, ServerCallStreamObserver<GenerateChunk> call, InFlightLimit.Permit permit) {
            this.id = id;
            this.call = call;
            this.permit = permit;
        }

        /** Sends the first chunk, then whatever the router sent meanwhile. */
        void open(GenerateChunk first) {
            List<Runnable> replay;
            synchronized (this) {
                if (!call.isCancelled()) {
                    call.onNext(first);
                }
                replay = held;
                held = null;
                replay.forEach(Runnable::run);
            }
        }

        /** Whether the event must wait for {@link #open} (then it is kept). */
        private synchronized boolean hold(Runnable event) {
            if (held != null) {
                held.add(event);
                return true;
            }
            return false;
        }

        @Override
        public synchronized void onDelta(int index, int tokenId, String text, TokenLogprob logprob) {
            if (hold(() -> onDelta(index, tokenId, text, logprob)) || call.isCancelled()) {
                return;
            }
            GenerateChunk.Builder chunk = GenerateChunk.newBuilder().setRequestId(id).setText(text)
                    .addTokenIds(tokenId);
            if (logprob != null) {
                chunk.addLogprobs(GrpcRequests.logprobs(logprob));
            }
            call.onNext(chunk.build());
        }

        @Override
        public synchronized void onFinish(int index, FinishReason reason, String text, Usage usage) {
            if (hold(() -> onFinish(index, reason, text, usage))) {
                return;
            }
            permit.close();
            generations.observer().request(API, reason == FinishReason.ABORT ? Outcome.ABORTED : Outcome.SUCCESS);
            if (call.isCancelled()) {
                return;
            }
            call.onNext(GenerateChunk.newBuilder().setRequestId(id).setText(text)
                    .setFinishReason(reason.openAiName())
                    .setUsage(dev.dsv2.proto.v1.Usage.newBuilder().setPromptTokens(usage.promptTokens())
                            .setCompletionTokens(usage.completionTokens()).setTotalTokens(usage.totalTokens()))
                    .build());
            call.onCompleted();
        }

        @Override
        public synchronized void onError(int index, ApiError error) {
            if (hold(() -> onError(index, error))) {
                return;
            }
            permit.close();
            generations.observer().request(API, Outcome.of(error.kind()));
            if (!call.isCancelled()) {
                call.onError(GrpcErrors.toStatus(error));
            }
        }
    }

    @Override
    public void abort(AbortRequest request, StreamObserver<AbortResponse> responses) {
        if (request.getRequestId().isEmpty()) {
            responses.onError(GrpcErrors.toStatus(ApiError.invalid("request_id", "request_id is required")));
            return;
        }
        responses.onNext(AbortResponse.newBuilder().setFound(generations.abort(GrpcGuard.caller(),
                request.getRequestId())).build());
        responses.onCompleted();
    }

    @Override
    @Blocking
    public void tokenize(TokenizeRequest request, StreamObserver<TokenizeResponse> responses) {
        try {
            ServedModel model = servedModel(request.getModel());
            String text;
            int[] ids;
            switch (request.getInputCase()) {
                case TEXT -> {
                    text = request.getText();
                    ids = request.getAddSpecialTokens() ? model.tokenizer().encodePrompt(text)
                            : model.tokenizer().encode(text);
                }
                case MESSAGES -> {
                    List<dev.dsv2.tokenizer.ChatMessage> messages = GrpcRequests.messages(request.getMessages());
                    text = Prompts.renderChat(model, messages, "messages");
                    ids = model.tokenizer().encode(text);
                }
                default -> throw ApiError.invalid("text", "one of text or messages is required");
            }
            TokenizeResponse.Builder out = TokenizeResponse.newBuilder().setText(text);
            for (int id : ids) {
                out.addIds(id);
            }
            responses.onNext(out.build());
            responses.onCompleted();
        } catch (RuntimeException e) {
            responses.onError(GrpcErrors.toStatus(e));
        }
    }

    @Override
    @Blocking
    public void detokenize(DetokenizeRequest request, StreamObserver<DetokenizeResponse> responses) {
        try {
            ServedModel model = servedModel(request.getModel());
            int[] ids = request.getIdsList().stream().mapToInt(Integer::intValue).toArray();
            for (int i = 0; i < ids.length; i++) {
                if (ids[i] < 0 || ids[i] >= model.tokenizer().vocabSize()) {
                    throw ApiError.invalid("ids", "ids[" + i + "] = " + ids[i] + " is not a token id of the "
                            + "tokenizer (valid: 0.." + (model.tokenizer().vocabSize() - 1) + ")");
                }
            }
            String text;
            try {
                text = model.tokenizer().decode(ids, !request.getIncludeSpecialTokens());
            } catch (IllegalArgumentException e) {
                throw ApiError.invalid("ids", e.getMessage());
            }
            responses.onNext(DetokenizeResponse.newBuilder().setText(text).build());
            responses.onCompleted();
        } catch (RuntimeException e) {
            responses.onError(GrpcErrors.toStatus(e));
        }
    }

    @Override
    public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> responses) {
        try {
            ServedModel model = generations.model();
            responses.onNext(ListModelsResponse.newBuilder().addModels(ModelInfo.newBuilder().setId(model.name())
                    .setContextLength(model.contextLimit()).setVocabSize(model.vocabSize())
                    .setArchitecture(model.architecture()).setCreated(model.created())).build());
            responses.onCompleted();
        } catch (RuntimeException e) {
            responses.onError(GrpcErrors.toStatus(e));
        }
    }

    /** The served model, if {@code name} is empty or names it. */
    private ServedModel servedModel(String name) {
        ServedModel model = generations.model();
        if (!name.isEmpty() && !name.equals(model.name())) {
            throw new ApiError(ApiError.Kind.NOT_FOUND, "model", ApiError.MODEL_NOT_FOUND, "model \""
                    + Prompts.clip(name) + "\" is not served here; this server serves \"" + model.name() + "\"");
        }
        return model;
    }
}
