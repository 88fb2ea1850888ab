package dev.dsv2.engine.serve;

/** Why a request failed; each maps to one gRPC status code and one HTTP status. */
public enum ErrorKind {
    /** Bad parameters, a prompt over the context limit, a request that can never fit the cache. gRPC INVALID_ARGUMENT, HTTP 400. */
    INVALID_ARGUMENT,
    /** The server is saturated (queue full). gRPC RESOURCE_EXHAUSTED, HTTP 429. */
    RESOURCE_EXHAUSTED,
    /** A dependency (an expert shard) is unreachable, or the model is still loading. gRPC UNAVAILABLE, HTTP 503. */
    UNAVAILABLE,
    /** A bug or an unexpected failure. gRPC INTERNAL, HTTP 500. */
    INTERNAL
}
