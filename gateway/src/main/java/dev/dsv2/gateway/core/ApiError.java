package dev.dsv2.gateway.core;

import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.ServingException;

/**
 * A request the gateway refuses or cannot complete, with everything each transport needs to report it: the
 * {@link Kind} (one gRPC status, one HTTP status), the request field at fault ({@code param}, the OpenAI name, may be
 * null) and a machine-readable {@code code} (e.g. {@code context_length_exceeded}, may be null). The message is
 * meant for the user and passed through unchanged by both APIs.
 */
public final class ApiError extends RuntimeException {
    /** Each kind maps to exactly one gRPC status code and one HTTP status. */
    public enum Kind {
        /** Bad parameters or a prompt over the context limit. gRPC INVALID_ARGUMENT, HTTP 400. */
        INVALID_ARGUMENT(400),
        /** No API key or a wrong one. gRPC UNAUTHENTICATED, HTTP 401. */
        UNAUTHENTICATED(401),
        /** An unknown model (or request id). gRPC NOT_FOUND, HTTP 404. */
        NOT_FOUND(404),
        /** Too many requests in flight. gRPC RESOURCE_EXHAUSTED, HTTP 429. */
        RESOURCE_EXHAUSTED(429),
        /** The model is still loading, or the router / an expert shard is unreachable. gRPC UNAVAILABLE, HTTP 503. */
        UNAVAILABLE(503),
        /** A bug or an unexpected failure. gRPC INTERNAL, HTTP 500. */
        INTERNAL(500);

        private final int httpStatus;

        Kind(int httpStatus) {
            this.httpStatus = httpStatus;
        }

        public int httpStatus() {
            return httpStatus;
        }

        public static Kind of(ErrorKind kind) {
            return switch (kind) {
                case INVALID_ARGUMENT -> INVALID_ARGUMENT;
                case RESOURCE_EXHAUSTED -> RESOURCE_EXHAUSTED;
                case UNAVAILABLE -> UNAVAILABLE;
                case INTERNAL -> INTERNAL;
            };
        }
    }

    /** {@code code} of a prompt (or prompt + max_tokens) over the model's context limit, as OpenAI names it. */
    public static final String CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded";
    /** {@code code} of an unknown model, as OpenAI names it. */
    public static final String MODEL_NOT_FOUND = "model_not_found";
    /** {@code code} while the weights are still being loaded. */
    public static final String MODEL_LOADING = "model_loading";

    private final Kind kind;
    private final String param;
    private final String code;

    public ApiError(Kind kind, String param, String code, String message) {
        super(message);
        this.kind = kind;
        this.param = param;
        this.code = code;
    }

    /** Bad value of request field {@code param}. */
    public static ApiError invalid(String param, String message) {
        return new ApiError(Kind.INVALID_ARGUMENT, param, null, message);
    }

    /** The error a {@link ServingException} of the engine or router stands for (no field named). */
    public static ApiError of(ServingException e) {
        return new ApiError(Kind.of(e.kind()), null, null, e.getMessage());
    }

    public static ApiError of(ErrorKind kind, String message) {
        return new ApiError(Kind.of(kind), null, null, message);
    }

    public Kind kind() {
        return kind;
    }

    /** The offending request field (OpenAI's {@code param}), or null. */
    public String param() {
        return param;
    }

    /** A machine-readable reason (OpenAI's {@code code}), or null. */
    public String code() {
        return code;
    }
}
