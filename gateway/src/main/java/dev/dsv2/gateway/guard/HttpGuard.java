package dev.dsv2.gateway.guard;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.core.Caller;
import dev.dsv2.gateway.openai.OpenAiErrors;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.SocketAddress;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

import java.util.Optional;

/**
 * The first handler of every HTTP request: paths under {@link GuardSettings#openPaths()} (health, metrics) pass as
 * they are; every other request needs {@code Authorization: Bearer KEY} when keys are configured (401 in OpenAI's
 * error shape otherwise, code {@code invalid_api_key}) and is refused with 503 once the shutdown drain began. The
 * caller's identity is left on the routing context ({@link #CALLER}) for the API to own its requests by.
 */
@ApplicationScoped
public class HttpGuard {
    /** Routing-context key of the request's {@link Caller}. */
    public static final String CALLER = "dsv2.caller";
    /** Before every route Quarkus or the API registers. */
    static final int ORDER = -1_000_000;

    @Inject
    GuardSettings settings;

    @Inject
    ShutdownDrain drain;

    @Inject
    ObjectMapper mapper;

    void routes(@Observes @Priority(1) Router router) {
        router.route().order(ORDER).handler(this::check);
    }

    /** The caller a guarded request carries, or {@link Caller#INTERNAL} when none was set. */
    public static Caller caller(RoutingContext ctx) {
        Caller c = ctx.get(CALLER);
        return c == null ? Caller.INTERNAL : c;
    }

    boolean open(String path) {
        for (String p : settings.openPaths()) {
            if (path.equals(p) || path.startsWith(p.endsWith("/") ? p : p + "/")) {
                return true;
            }
        }
        return false;
    }

    private void check(RoutingContext ctx) {
        String path = ctx.normalizedPath();
        if (open(path)) {
            ctx.next();
            return;
        }
        if (drain.draining()) {
            refuse(ctx, new ApiError(ApiError.Kind.UNAVAILABLE, null, "shutting_down",
                    "this server is shutting down; retry on another replica"));
            return;
        }
        SocketAddress remote = ctx.request().remoteAddress();
        String address = remote == null || remote.hostAddress() == null ? "unknown" : remote.hostAddress();
        ApiKeys keys = settings.apiKeys();
        Optional<String> owner = keys.authenticate(ctx.request().getHeader("authorization"), "addr-" + address);
        if (owner.isEmpty()) {
            ctx.response().putHeader("www-authenticate", "Bearer");
            refuse(ctx, new ApiError(ApiError.Kind.UNAUTHENTICATED, null, "invalid_api_key",
                    ctx.request().getHeader("authorization") == null
                            ? "You didn't provide an API key. You need to provide your API key in an Authorization "
                            + "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                            : "Incorrect API key provided. You can find the server's keys in its configuration "
                            + "(dsv2.api-keys)."));
            return;
        }
        ctx.put(CALLER, new Caller(owner.get(), keys.required()));
        ctx.next();
    }

    private void refuse(RoutingContext ctx, ApiError error) {
        byte[] body;
        try {
            body = mapper.writeValueAsBytes(OpenAiErrors.body(error));
        } catch (JsonProcessingException e) {
            body = new byte[0];
        }
        ctx.response().setStatusCode(error.kind().httpStatus()).putHeader("content-type", "application/json")
                .end(Buffer.buffer(body));
    }
}
