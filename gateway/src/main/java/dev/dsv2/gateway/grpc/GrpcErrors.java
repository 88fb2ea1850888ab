package dev.dsv2.gateway.grpc;

import dev.dsv2.gateway.core.ApiError;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/** {@link ApiError} → gRPC status: one code per kind, the message passed through unchanged. */
final class GrpcErrors {
    private GrpcErrors() {
    }

    static Status.Code code(ApiError.Kind kind) {
        return switch (kind) {
            case INVALID_ARGUMENT -> Status.Code.INVALID_ARGUMENT;
            case UNAUTHENTICATED -> Status.Code.UNAUTHENTICATED;
            case NOT_FOUND -> Status.Code.NOT_FOUND;
            case RESOURCE_EXHAUSTED -> Status.Code.RESOURCE_EXHAUSTED;
            case UNAVAILABLE -> Status.Code.UNAVAILABLE;
            case INTERNAL -> Status.Code.INTERNAL;
        };
    }

    static StatusRuntimeException toStatus(ApiError e) {
        return Status.fromCode(code(e.kind())).withDescription(e.getMessage()).asRuntimeException();
    }

    /** Any failure as a status: an {@link ApiError} as its kind says, anything else INTERNAL. */
    static StatusRuntimeException toStatus(RuntimeException e) {
        if (e instanceof ApiError api) {
            return toStatus(api);
        }
        return Status.INTERNAL.withDescription("internal error: " + e).withCause(e).asRuntimeException();
    }
}
