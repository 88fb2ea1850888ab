package dev.dsv2.gateway.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.core.Caller;
import dev.dsv2.gateway.core.GenerationService;
import dev.dsv2.gateway.core.InFlightLimit;
import dev.dsv2.gateway.core.Prompts;
import dev.dsv2.gateway.core.RequestHandle;
import dev.dsv2.gateway.core.ServingObserver.Outcome;
import dev.dsv2.gateway.guard.FairAdmission;
import dev.dsv2.gateway.guard.GuardSettings;
import dev.dsv2.gateway.guard.TokenizerGate;
import dev.dsv2.gateway.model.ServedModel;

import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * The OpenAI API's logic, independent of any transport: {@code /v1/models}, {@code /v1/completions} and
 * {@code /v1/chat/completions}, with OpenAI's field names, shapes, defaults and error objects. The HTTP endpoint
 * ({@link OpenAiRoutes}) calls it, and so does the Kafka batch consumer: a Batch API line's {@code body} goes to
 * {@link #completions(JsonNode, InFlightLimit.Permit)} / {@link #chatCompletions(JsonNode, InFlightLimit.Permit)},
 * whose {@link OpenAiResponse} is exactly what the HTTP endpoint would have answered.
 *
 * <p>In-flight caps: interactive calls ({@link #completions(JsonNode)}, {@link #chatCompletions(JsonNode)},
 * {@link #stream}) take a permit of the interactive {@link InFlightLimit} or are refused with 429. Batch traffic
 * brings its own permit from a separate limit (the consumer waits on {@link InFlightLimit#acquire()}); the API
 * releases it when the request ends, whatever the outcome.
 *
 * <p>Cancelling a returned stage ({@code toCompletableFuture().cancel(false)}) aborts the request: its sequences stop
 * and their cache blocks are freed.
 */
public final class OpenAiApi {
    /** The metrics {@code api} label of requests that arrive with a caller's permit (batch jobs). */
    public static final String BATCH_API = "batch";

    private final GenerationService generations;
    private final InFlightLimit interactive;
    private final FairAdmission admission;
    private final TokenizerGate tokenizerGate;

    /** With the default protections ({@link GuardSettings#defaults()}): tools and tests. */
    public OpenAiApi(GenerationService generations, InFlightLimit interactive) {
        this(generations, interactive, new FairAdmission(GuardSettings.defaults()),
                new TokenizerGate(GuardSettings.defaults()));
    }

    /**
     * @param admission     fair admission of interactive requests between owners (batch has its own limit)
     * @param tokenizerGate the bound on interactive requests' tokenization
     */
    public OpenAiApi(GenerationService generations, InFlightLimit interactive, FairAdmission admission,
                     TokenizerGate tokenizerGate) {
        this.generations = generations;
        this.interactive = interactive;
        this.admission = admission;
        this.tokenizerGate = tokenizerGate;
    }

    /** {@code GET /v1/models}: the served model (503 while it loads). */
    public OpenAiResponse models() {
        try {
            ServedModel m = generations.model();
            ObjectNode body = OpenAiJson.F.objectNode();
            body.put("object", "list");
            body.putArray("data").add(modelObject(m));
            return new OpenAiResponse(200, body);
        } catch (ApiError e) {
            return OpenAiErrors.response(e);
        }
    }

    /** {@code GET /v1/models/{id}} (the SDKs' {@code models.retrieve}): the model, or 404 for any other id. */
    public OpenAiResponse model(String id) {
        try {
            ServedModel m = generations.model();
            if (!m.name().equals(id)) {
                throw new ApiError(ApiError.Kind.NOT_FOUND, "model", ApiError.MODEL_NOT_FOUND, "The model `"
                        + Prompts.clip(id) + "` does not exist. This server serves `"
                        + m.name() + "`.");
            }
            return new OpenAiResponse(200, modelObject(m));
        } catch (ApiError e) {
            return OpenAiErrors.response(e);
        }
    }

    private static ObjectNode modelObject(ServedModel m) {
        ObjectNode model = OpenAiJson.F.objectNode();
        model.put("id", m.name());
        model.put("object", "model");
        model.put("created", m.created());
        model.put("owned_by", "dsv2");
        model.put("root", m.name());
        model.putNull("parent");
        model.put("max_model_len", m.contextLimit());
        return model;
    }

    /** {@code POST /v1/completions}, non-streaming, as interactive traffic. */
    public CompletionStage<OpenAiResponse> completions(JsonNode body) {
        return complete(Endpoint.COMPLETIONS, body, null);
    }

    /** {@code POST /v1/chat/completions}, non-streaming, as interactive traffic. */
    public CompletionStage<OpenAiResponse> chatCompletions(JsonNode body) {
        return complete(Endpoint.CHAT, body, null);
    }

    /** {@code POST /v1/completions} for a caller that already holds {@code permit} (released when it ends). */
    public CompletionStage<OpenAiResponse> completions(JsonNode body, InFlightLimit.Permit permit) {
        return complete(Endpoint.COMPLETIONS, body, permit);
    }

    /** {@code POST /v1/chat/completions} for a caller that already holds {@code permit} (released when it ends). */
    public CompletionStage<OpenAiResponse> chatCompletions(JsonNode body, InFlightLimit.Permit permit) {
        return complete(Endpoint.CHAT, body, permit);
    }

    /**
     * A non-streaming request to {@code endpoint}.
     *
     * @param heldPermit the caller's permit (batch), or null to take an interactive one
     */
    public CompletionStage<OpenAiResponse> complete(Endpoint endpoint, JsonNode body, InFlightLimit.Permit heldPermit) {
        return complete(endpoint, body, heldPermit, Caller.INTERNAL);
    }

    /**
     * A non-streaming request to {@code endpoint} from {@code caller}.
     *
     * @param heldPermit the caller's permit (batch), or null to take an interactive one and wait for admission
     */
    public CompletionStage<OpenAiResponse> complete(Endpoint endpoint, JsonNode body, InFlightLimit.Permit heldPermit,
                                                    Caller caller) {
        String api = heldPermit == null ? endpoint.api() : BATCH_API;
        InFlightLimit.Permit permit = heldPermit;
        try {
            OpenAiRequest request;
            if (permit == null) {
                permit = interactive.acquireOrRefuse();
                request = admit(endpoint, body, caller, permit);
            } else {
                ServedModel model = generations.model();
                request = OpenAiRequest.parse(endpoint, body, model, generations.cacheCapacityTokens(model));
            }
            if (request.stream()) {
                throw ApiError.invalid("stream", "stream=true is only available over HTTP (server-sent events); "
                        + "this call returns one complete response");
            }
            String id = newId(endpoint);
            CompleteResponse sink = new CompleteResponse(request, id, nowSeconds(), permit, api,
                    generations.observer());
            sink.attach(generations.start(caller, id, api, request.sequences(), request.output(), sink));
            return sink.result();
        } catch (RuntimeException e) {
            return CompletableFuture.completedFuture(refuse(api, permit, e));
        }
    }

    /** How a streaming request started. */
    public sealed interface StreamStart {
        /** Refused before anything was written: send this response instead of a stream. */
        record Refused(OpenAiResponse response) implements StreamStart {
        }

        /** Running: events go to the channel; {@link #cancel()} when the client goes away. */
        record Started(String id, Runnable canceller) implements StreamStart {
            public void cancel() {
                canceller.run();
            }
        }
    }

    /**
     * A streaming ({@code "stream": true}) request from the HTTP API: validation errors come back as
     * {@link StreamStart.Refused} before the stream is committed; after that, everything goes to {@code channel}.
     */
    public StreamStart stream(Endpoint endpoint, JsonNode body, SseChannel channel) {
        return stream(endpoint, body, channel, Caller.INTERNAL);
    }

    /** {@link #stream(Endpoint, JsonNode, SseChannel)} for {@code caller}. */
    public StreamStart stream(Endpoint endpoint, JsonNode body, SseChannel channel, Caller caller) {
        String api = endpoint.api();
        InFlightLimit.Permit permit = null;
        try {
            permit = interactive.acquireOrRefuse();
            OpenAiRequest request = admit(endpoint, body, caller, permit);
            String id = newId(endpoint);
            StreamResponse sink = new StreamResponse(request, id, nowSeconds(), permit, api, generations.observer(),
                    channel);
            RequestHandle handle = generations.start(caller, id, api, request.sequences(), request.output(), sink);
            sink.attach(handle);
            return new StreamStart.Started(id, sink::cancel);
        } catch (RuntimeException e) {
            return new StreamStart.Refused(refuse(api, permit, e));
        }
    }

    /**
     * An interactive request's way in: parsed and tokenized within the tokenizer bound, then admitted fairly among
     * owners; the admission ticket is released with {@code permit}.
     */
    private OpenAiRequest admit(Endpoint endpoint, JsonNode body, Caller caller, InFlightLimit.Permit permit) {
        ServedModel model = generations.model();
        long cache = generations.cacheCapacityTokens(model);
        OpenAiRequest request = tokenizerGate.run(() -> OpenAiRequest.parse(endpoint, body, model, cache));
        permit.alsoRelease(admission.admit(caller.owner(), request.sequences()));
        return request;
    }

    private OpenAiResponse refuse(String api, InFlightLimit.Permit permit, RuntimeException e) {
        if (permit != null) {
            permit.close();
        }
        OpenAiResponse response = OpenAiErrors.response(e);
        generations.observer().request(api, e instanceof ApiError a ? Outcome.of(a.kind()) : Outcome.ERROR);
        return response;
    }

    static String newId(Endpoint endpoint) {
        return endpoint.idPrefix() + UUID.randomUUID().toString().replace("-", "");
    }

    static long nowSeconds() {
        return System.currentTimeMillis() / 1000;
    }
}
