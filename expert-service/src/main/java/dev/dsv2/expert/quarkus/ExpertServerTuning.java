package dev.dsv2.expert.quarkus;

import dev.dsv2.expert.ExpertsEndpoint;
import io.quarkus.grpc.api.ServerBuilderCustomizer;
import io.quarkus.grpc.runtime.config.GrpcServerConfiguration;
import io.vertx.grpc.VertxServerBuilder;
import jakarta.inject.Singleton;

import java.util.logging.Logger;

/**
 * The shard's gRPC server (Quarkus' separate Vert.x/Netty server) with the HTTP/2 receive window of
 * {@link ExpertsEndpoint#FLOW_CONTROL_WINDOW}, which Quarkus has no configuration key for: a large layer request
 * arrives without WINDOW_UPDATE round trips.
 */
@Singleton
public class ExpertServerTuning implements ServerBuilderCustomizer<VertxServerBuilder> {
    private static final Logger LOG = Logger.getLogger(ExpertServerTuning.class.getName());

    @Override
    public void customize(GrpcServerConfiguration config, VertxServerBuilder builder) {
        builder.nettyBuilder().flowControlWindow(ExpertsEndpoint.FLOW_CONTROL_WINDOW);
        LOG.info(() -> "gRPC server: HTTP/2 flow-control window " + (ExpertsEndpoint.FLOW_CONTROL_WINDOW >> 20)
                + " MiB");
    }
}
