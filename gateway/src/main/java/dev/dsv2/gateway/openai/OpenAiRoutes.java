package dev.dsv2.gateway.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.gateway.core.ApiError;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The OpenAI-compatible HTTP API on the gateway's HTTP port: {@code GET /v1/models}, {@code POST /v1/completions},
 * {@code POST /v1/chat/completions} ({@code "stream": true} as server-sent events). Plain Vert.x routes: request
 * work (JSON, tokenization, chat templates) runs on virtual threads, never on the event loop; a client that
 * disconnects cancels its generation (the router frees the sequence's cache at once). The logic lives in
 * {@link OpenAiApi}; this class only moves bytes.
 */
@ApplicationScoped
public class OpenAiRoutes {
    /** Largest request body accepted (a long chat history fits easily). */
    static final int MAX_BODY_BYTES = 32 << 20;

    @Inject
    OpenAiApi api;

    @Inject
    ObjectMapper mapper;

    private final ExecutorService requests = Executors.newVirtualThreadPerTaskExecutor();

    void routes(@Observes Router router) {
        router.get("/v1/models").handler(ctx -> write(ctx, api.models()));
        for (Endpoint endpoint : Endpoint.values()) {
            router.post(endpoint.path()).handler(BodyHandler.create().setBodyLimit(MAX_BODY_BYTES))
                    .handler(ctx -> handle(ctx, endpoint));
        }
        router.route("/v1/*").handler(ctx -> write(ctx, OpenAiErrors.response(new ApiError(ApiError.Kind.NOT_FOUND,
                null, null, "Invalid URL (" + ctx.request().method() + " " + ctx.request().path() + ")"))));
    }

    private void handle(RoutingContext ctx, Endpoint endpoint) {
        requests.execute(() -> {
            JsonNode body;
            try {
                Buffer raw = ctx.body().buffer();
                body = raw == null ? null : mapper.readTree(raw.getBytes());
            } catch (IOException e) {
                String detail = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
                write(ctx, OpenAiErrors.response(ApiError.invalid(null, "We could not parse the JSON body of your "
                        + "request: " + detail + ". The OpenAI API expects a JSON object.")));
                return;
            }
            JsonNode stream = body == null ? null : body.get("stream");
            if (stream != null && stream.isBoolean() && stream.booleanValue()) {
                stream(ctx, endpoint, body);
            } else {
                complete(ctx, endpoint, body);
            }
        });
    }

    private void complete(RoutingContext ctx, Endpoint endpoint, JsonNode body) {
        CompletableFuture<OpenAiResponse> result = api.complete(endpoint, body, null).toCompletableFuture();
        ctx.response().closeHandler(v -> result.cancel(false));
        result.whenComplete((response, failure) -> {
            if (response != null) {
                write(ctx, response);
            } else if (!(failure instanceof java.util.concurrent.CancellationException)) {
                write(ctx, OpenAiErrors.response(failure));
            }
        });
    }

    private void stream(RoutingContext ctx, Endpoint endpoint, JsonNode body) {
        HttpServerResponse response = ctx.response();
        AtomicReference<OpenAiApi.StreamStart.Started> running = new AtomicReference<>();
        response.closeHandler(v -> {
            OpenAiApi.StreamStart.Started s = running.get();
            if (s != null) {
                s.cancel();
            }
        });
        switch (api.stream(endpoint, body, new HttpSse(response))) {
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
        HttpServerResponse out = ctx.response();
        if (out.closed() || out.ended()) {
            return;
        }
        try {
            out.setStatusCode(response.status()).putHeader("content-type", "application/json")
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
