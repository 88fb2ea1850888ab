package dev.dsv2.engine.serve;

/**
 * A failure with its {@link ErrorKind}: a request the scheduler refuses, or a step that failed (e.g. an expert shard
 * unreachable). The services map the kind to a gRPC status / HTTP status and pass the message through unchanged.
 */
public final class ServingException extends RuntimeException {
    private final ErrorKind kind;

    public ServingException(ErrorKind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public ErrorKind kind() {
        return kind;
    }
}
