package dev.dsv2.gateway.router;

/**
 * The gateway's view of a router: the continuous batcher that turns prompt ids into generated ids. Text never
 * crosses this interface; the gateway tokenizes at the edge and detokenizes what comes back.
 *
 * <p>Two implementations: {@link EmbeddedRouter} (model, cache and scheduler in this JVM, every expert local) and
 * {@link GrpcRouterClient} (a router-service over the internal {@code dsv2.internal.v1.Router} API).
 *
 * <p>Event contract of {@link #generate}: zero or more {@link RouterListener#onToken} calls, then exactly one of
 * {@link RouterListener#onComplete} or {@link RouterListener#onError}. Calls for one request never overlap and never
 * run on the scheduler thread, so a listener may format and write output, but it should not block for long.
 */
public interface RouterClient extends AutoCloseable {
    /**
     * Starts {@code request}. Returns at once; events arrive on {@code listener}.
     *
     * @throws dev.dsv2.engine.serve.ServingException when the router refuses the request outright (saturated,
     *                                                unavailable, invalid); then the listener is never called
     */
    void generate(RouterRequest request, RouterListener listener);

    /**
     * Aborts a queued or running request; its listener then completes with {@code abort}. Returns false when no such
     * request is in flight.
     */
    boolean abort(String requestId);

    /** A point-in-time view of the router (load, cache, readiness). Never throws: an unreachable router is not ready. */
    RouterStatus status();

    /** Where requests go, for logs: {@code embedded} or {@code host:port}. */
    String describe();

    @Override
    void close();
}
