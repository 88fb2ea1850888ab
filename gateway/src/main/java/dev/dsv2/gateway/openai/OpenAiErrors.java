package dev.dsv2.gateway.openai;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.gateway.core.ApiError;

/**
 * Errors in the OpenAI API's shape: {@code {"error":{"message","type","param","code"}}} with the matching HTTP
 * status (400 invalid_request_error, 404 for an unknown model, 429 when saturated, 503 while loading, 500).
 */
public final class OpenAiErrors {
    private OpenAiErrors() {
    }

    public static String type(ApiError.Kind kind) {
        return switch (kind) {
            case INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED -> "invalid_request_error";
            case RESOURCE_EXHAUSTED -> "rate_limit_error";
            case UNAVAILABLE -> "service_unavailable_error";
            case INTERNAL -> "server_error";
        };
    }

    /** The {@code {"error": {...}}} object of {@code e}. */
    public static ObjectNode body(ApiError e) {
        ObjectNode error = JsonNodeFactory.instance.objectNode();
        error.put("message", e.getMessage());
        error.put("type", type(e.kind()));
        error.put("param", e.param());
        error.put("code", e.code());
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        root.set("error", error);
        return root;
    }

    public static OpenAiResponse response(ApiError e) {
        return new OpenAiResponse(e.kind().httpStatus(), body(e));
    }

    /** Any failure as a response: an {@link ApiError} as its kind says, anything else a 500. */
    public static OpenAiResponse response(Throwable t) {
        if (t instanceof java.util.concurrent.CompletionException && t.getCause() != null) {
            t = t.getCause();
        }
        return response(t instanceof ApiError e ? e
                : new ApiError(ApiError.Kind.INTERNAL, null, null, "internal error: " + t));
    }
}
