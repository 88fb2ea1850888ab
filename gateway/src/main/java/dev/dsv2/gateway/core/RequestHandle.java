package dev.dsv2.gateway.core;

import dev.dsv2.gateway.router.RouterClient;

import java.util.List;

/** A running API request (all its sequences), for cancellation when the client goes away or asks to abort. */
public final class RequestHandle {
    private final String requestId;
    private final String api;
    private final RouterClient router;
    private final List<String> routerRequestIds;

    RequestHandle(String requestId, String api, RouterClient router, List<String> routerRequestIds) {
        this.requestId = requestId;
        this.api = api;
        this.router = router;
        this.routerRequestIds = List.copyOf(routerRequestIds);
    }

    /** The metrics label of the API that started it ({@code grpc}, {@code chat}, {@code batch}, ...). */
    public String api() {
        return api;
    }

    public String requestId() {
        return requestId;
    }

    /**
     * Aborts every sequence still running: each finishes with {@code abort} (or, if it ended meanwhile, as it ended)
     * and its cache blocks are freed. Idempotent; returns whether any sequence was still in flight.
     */
    public boolean abort() {
        boolean any = false;
        for (String id : routerRequestIds) {
            any |= router.abort(id);
        }
        return any;
    }
}
