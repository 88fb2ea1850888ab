package dev.dsv2.expert.quarkus;

import dev.dsv2.expert.ExpertMetrics;
import dev.dsv2.expert.ExpertsEndpoint;
import dev.dsv2.expert.ServedShard;
import io.quarkus.grpc.GrpcService;
import jakarta.inject.Inject;
import jakarta.inject.Named;

import java.util.concurrent.ExecutorService;

/** The {@link ExpertsEndpoint} as the Quarkus gRPC service (port {@code quarkus.grpc.server.port}, 9090). */
@GrpcService
public class ExpertsGrpcService extends ExpertsEndpoint {

    @Inject
    public ExpertsGrpcService(ServedShard served, @Named("expert-compute") ExecutorService compute,
                              ExpertMetrics metrics) {
        super(served, compute, metrics);
    }
}
