package dev.dsv2.gateway.core;

/**
 * Who sent a request: the owner of what it starts. With API keys configured the owner is the key's id
 * ({@code key-<12 hex>}, never the key) and {@link #authenticated} is true: request ids are then scoped to the owner
 * and {@code Abort} only reaches the caller's own requests. Without keys the server is open, the owner is the
 * client's address (used for fair admission only) and any caller may abort any request, as before keys existed.
 */
public record Caller(String owner, boolean authenticated) {
    /** In-process callers with no client (tools, tests). */
    public static final Caller INTERNAL = new Caller("internal", false);

    public Caller {
        if (owner == null || owner.isEmpty()) {
            throw new IllegalArgumentException("a caller needs an owner");
        }
    }

    /** The key under which this caller's request {@code requestId} is kept: ids of different keys never clash. */
    String scope(String requestId) {
        return authenticated ? owner + "/" + requestId : requestId;
    }
}
