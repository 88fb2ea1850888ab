package dev.dsv2.router.quarkus;

import dev.dsv2.router.RouterEndpoint;
import dev.dsv2.router.RouterEngine;
import dev.dsv2.router.RouterMetrics;
import io.quarkus.grpc.GrpcService;
import jakarta.inject.Inject;

/** The {@link RouterEndpoint} as the Quarkus gRPC service (port {@code quarkus.grpc.server.port}, 9090). */
@GrpcService
public class RouterGrpcService extends RouterEndpoint {

    @Inject
    public RouterGrpcService(RouterEngine engine, RouterMetrics metrics) {
        super(engine, metrics);
    }
}
