package dev.dsv2.gateway.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.core.Caller;
import dev.dsv2.gateway.core.Prompts;
import dev.dsv2.gateway.guard.FairAdmission;
import dev.dsv2.gateway.guard.HttpGuard;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClosedException;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Logger;

/**
 * The OpenAI-compatible HTTP API on the gateway's HTTP port: {@code GET /v1/models}, {@code POST /v1/completions},
 * {@code POST /v1/chat/completions} ({@code "stream": true} as server-sent events). Plain Vert.x routes: request
 * work (JSON, tokenization, chat templates) runs on virtual threads, never on the event loop; a client that
 * disconnects cancels its generation (the router frees the sequence's cache at once). Refusals before any work are
 * in OpenAI's error shape too: 415 for a body that is not JSON, 413 over {@value #MAX_BODY_BYTES} bytes, 408 for a
 * body that does not arrive (authentication and the shutdown drain come before, in
 * {@link dev.dsv2.gateway.guard.HttpGuard}). The logic lives in {@link OpenAiApi}; this class only moves bytes.
 */
@ApplicationScoped
public class OpenAiRoutes {
    /** Largest request body accepted (a long chat history fits easily). */
    static final int MAX_BODY_BYTES = 32 << 20;

    @Inject
    OpenAiApi api;

    @Inject
    ObjectMapper mapper;

    /** A request body must have arrived this long after its headers (408 and the connection closed otherwise). */
    @ConfigProperty(name = "dsv2.http.body-timeout", defaultValue = "30s")
    Duration bodyTimeout;

    private static final Logger LOG = Logger.getLogger(OpenAiRoutes.class.getName());
    private static final String BODY_TIMER = "dsv2.body-timer";

    private final ExecutorService requests = Executors.newVirtualThreadPerTaskExecutor();

    void routes(@Observes Router router) {
        router.get("/v1/models").handler(ctx -> write(ctx, api.models()));
        router.get("/v1/models/:id").handler(ctx -> write(ctx, api.model(ctx.pathParam("id"))));
        for (Endpoint endpoint : Endpoint.values()) {
            router.post(endpoint.path()).handler(this::requireJson);
            router.post(endpoint.path()).handler(BodyHandler.create().setBodyLimit(MAX_BODY_BYTES))
                    .handler(ctx -> handle(ctx, endpoint))
                    .failureHandler(this::failed);
        }
        router.route("/v1/*").handler(ctx -> write(ctx, OpenAiErrors.response(new ApiError(ApiError.Kind.NOT_FOUND,
                null, null, "Invalid URL (" + ctx.request().method() + " " + ctx.request().path() + ")"))));
    }

    /**
     * Only JSON bodies: a web page can POST {@code text/plain} (or a form) to any server without a CORS preflight,
     * so accepting those would let any site a user visits drive a server on their machine (415 otherwise). A JSON
     * request's body must then arrive within {@code dsv2.http.body-timeout} (408 and the connection closed
     * otherwise), so half-sent requests do not hold connections.
     */
    private void requireJson(RoutingContext ctx) {
        String type = ctx.request().getHeader("content-type");
        String media = type == null ? "" : type.split(";", 2)[0].strip().toLowerCase(java.util.Locale.ROOT);
        if (media.equals("application/json") || (media.startsWith("application/") && media.endsWith("+json"))) {
            quietWhenClientLeaves(ctx);
            long timer = ctx.vertx().setTimer(Math.max(1, bodyTimeout.toMillis()), id -> {
                if (!ctx.response().ended() && !ctx.response().closed()) {
                    LOG.fine(() -> "request body not received within " + bodyTimeout + " from "
                            + ctx.request().remoteAddress() + "; closing the connection");
                            write(ctx, OpenAiErrors.response(ApiError.invalid(null, "the request body did not arrive "
                            + "within " + bodyTimeout.toSeconds() + " s")), 408);
                    ctx.request().connection().close();
                }
            });
            ctx.put(BODY_TIMER, timer);
            ctx.next();
            return;
        }
        write(ctx, OpenAiErrors.response(new ApiError(ApiError.Kind.INVALID_ARGUMENT, null,
                "unsupported_media_type", "Content-Type must be application/json, got "
                + (type == null ? "none" : "\"" + Prompts.clip(type) + "\""))), 415);
    }

    /**
     * A client that goes away mid-request is normal traffic: a debug line, not an ERROR with a stack trace (before,
     * each dropped connection logged one {@code HttpClosedException}).
     */
    private static void quietWhenClientLeaves(RoutingContext ctx) {
        ctx.response().exceptionHandler(e -> LOG.fine(() -> "client " + ctx.request().remoteAddress()
                + " went away: " + e));
    }

    private void bodyArrived(RoutingContext ctx) {
        Long timer = ctx.get(BODY_TIMER);
        if (timer != null) {
            ctx.vertx().cancelTimer(timer);
        }
    }

    /** The body handler's refusals (a body over {@value #MAX_BODY_BYTES} bytes) in OpenAI's error shape. */
    private void failed(RoutingContext ctx) {
        bodyArrived(ctx);
        if (ctx.response().closed() || ctx.failure() instanceof HttpClosedException) {
            LOG.fine(() -> "client " + ctx.request().remoteAddress() + " went away before its request was read");
            return;
        }
        int status = ctx.statusCode();
        if (status == 413) {
            write(ctx, OpenAiErrors.response(new ApiError(ApiError.Kind.INVALID_ARGUMENT, null, "request_too_large",
                    "the request body is over " + (MAX_BODY_BYTES >> 20) + " MiB, the most this server reads")), 413);
        } else if (status >= 400 && status < 500) {
            write(ctx, OpenAiErrors.response(ApiError.invalid(null, "bad request (HTTP " + status + ")")), status);
        } else {
            write(ctx, OpenAiErrors.response(ctx.failure() == null ? new IllegalStateException("HTTP " + status)
                    : ctx.failure()));
        }
    }

    private void handle(RoutingContext ctx, Endpoint endpoint) {
        bodyArrived(ctx);
        Caller caller = HttpGuard.caller(ctx);
        requests.execute(() -> {
            JsonNode body;
            try {
                Buffer raw = ctx.body().buffer();
                body = raw == null ? null : mapper.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                        .readTree(raw.getBytes());
            } catch (IOException e) {
                String detail = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
                write(ctx, OpenAiErrors.response(ApiError.invalid(null, "We could not parse the JSON body of your "
                        + "request: " + detail + ". The OpenAI API expects a JSON object.")));
                return;
            }
            JsonNode stream = body == null ? null : body.get("stream");
            if (stream != null && stream.isBoolean() && stream.booleanValue()) {
                stream(ctx, endpoint, body, caller);
            } else {
                complete(ctx, endpoint, body, caller);
            }
        });
    }

    private void complete(RoutingContext ctx, Endpoint endpoint, JsonNode body, Caller caller) {
        CompletableFuture<OpenAiResponse> result = api.complete(endpoint, body, null, caller).toCompletableFuture();
        ctx.response().closeHandler(v -> result.cancel(false));
        result.whenComplete((response, failure) -> {
            if (response != null) {
                write(ctx, response);
            } else if (!(failure instanceof java.util.concurrent.CancellationException)) {
                write(ctx, OpenAiErrors.response(failure));
            }
        });
    }

    private void stream(RoutingContext ctx, Endpoint endpoint, JsonNode body, Caller caller) {
        HttpServerResponse response = ctx.response();
        AtomicReference<OpenAiApi.StreamStart.Started> running = new AtomicReference<>();
        response.closeHandler(v -> {
            OpenAiApi.StreamStart.Started s = running.get();
            if (s != null) {
                s.cancel();
            }
        });
        switch (api.stream(endpoint, body, new HttpSse(response), caller)) {
            case OpenAiApi.StreamStart.Refused refused -> write(ctx, refused.response());
            case OpenAiApi.StreamStart.Started started -> {
                running.set(started);
                if (response.closed()) {
                    started.cancel();
                }
            }
        }
    }

    private void write(RoutingContext ctx, OpenAiResponse response) {
        write(ctx, response, response.status());
    }

    /** Writes {@code response} with HTTP {@code status}; a 429 says when to retry ({@code Retry-After}). */
    private void write(RoutingContext ctx, OpenAiResponse response, int status) {
        HttpServerResponse out = ctx.response();
        if (out.closed() || out.ended()) {
            return;
        }
        if (status == 429) {
            out.putHeader("retry-after", Integer.toString(FairAdmission.RETRY_AFTER_SECONDS));
        }
        try {
            out.setStatusCode(status).putHeader("content-type", "application/json")
                    .end(Buffer.buffer(mapper.writeValueAsBytes(response.body())));
        } catch (JsonProcessingException e) {
            out.setStatusCode(500).end();
        }
    }

    /** Server-sent events on one HTTP response; calls are serialized by the caller. */
    private final class HttpSse implements SseChannel {
        private final HttpServerResponse response;
        private boolean started;

        HttpSse(HttpServerResponse response) {
            this.response = response;
        }

        private boolean open() {
            if (response.closed() || response.ended()) {
                return false;
            }
            if (!started) {
                started = true;
                response.setStatusCode(200).setChunked(true)
                        .putHeader("content-type", "text/event-stream; charset=utf-8")
                        .putHeader("cache-control", "no-cache");
            }
            return true;
        }

        @Override
        public void send(JsonNode event) {
            if (!open()) {
                return;
            }
            try {
                response.write(Buffer.buffer("data: ").appendBytes(mapper.writeValueAsBytes(event))
                        .appendString("\n\n"));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("cannot serialize an SSE event: " + e.getMessage(), e);
            }
        }

        @Override
        public void done() {
            if (open()) {
                response.end("data: [DONE]\n\n");
            }
        }
    }

    @PreDestroy
    void close() {
        requests.shutdown();
    }
}
