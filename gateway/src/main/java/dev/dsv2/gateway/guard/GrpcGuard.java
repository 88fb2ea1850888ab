package dev.dsv2.gateway.guard;

import dev.dsv2.gateway.core.Caller;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Optional;

/**
 * The gRPC side of {@link HttpGuard}: every call but {@code grpc.health.v1.Health} needs {@code authorization:
 * Bearer KEY} metadata when keys are configured (UNAUTHENTICATED otherwise), and {@code dsv2.v1.Inference} calls are
 * refused with UNAVAILABLE once the shutdown drain began. The caller is put in the call's {@link Context}
 * ({@link #CALLER}).
 */
@ApplicationScoped
@GlobalInterceptor
public class GrpcGuard implements ServerInterceptor {
    /** The call's {@link Caller}. */
    public static final Context.Key<Caller> CALLER = Context.key("dsv2.caller");
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization",
            Metadata.ASCII_STRING_MARSHALLER);
    static final String HEALTH = "grpc.health.v1.Health";

    @Inject
    GuardSettings settings;

    @Inject
    ShutdownDrain drain;

    /** The current call's caller, {@link Caller#INTERNAL} outside a guarded call. */
    public static Caller caller() {
        Caller c = CALLER.get();
        return c == null ? Caller.INTERNAL : c;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        String service = call.getMethodDescriptor().getServiceName();
        if (HEALTH.equals(service)) {
            return next.startCall(call, headers);
        }
        if (drain.draining() && "dsv2.v1.Inference".equals(service)) {
            call.close(Status.UNAVAILABLE.withDescription("this server is shutting down; retry on another replica"),
                    new Metadata());
            return new ServerCall.Listener<>() {
            };
        }
        SocketAddress remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        String address = remote instanceof InetSocketAddress inet && inet.getAddress() != null
                ? inet.getAddress().getHostAddress() : "unknown";
        ApiKeys keys = settings.apiKeys();
        Optional<String> owner = keys.authenticate(headers.get(AUTHORIZATION), "addr-" + address);
        if (owner.isEmpty()) {
            call.close(Status.UNAUTHENTICATED.withDescription(headers.get(AUTHORIZATION) == null
                    ? "no API key: send metadata \"authorization: Bearer YOUR_KEY\""
                    : "incorrect API key in the authorization metadata"), new Metadata());
            return new ServerCall.Listener<>() {
            };
        }
        Context ctx = Context.current().withValue(CALLER, new Caller(owner.get(), keys.required()));
        return Contexts.interceptCall(ctx, call, headers, next);
    }
}
