package dev.dsv2.expert.quarkus;

import dev.dsv2.expert.ServedShard;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;
import org.eclipse.microprofile.health.Startup;

/**
 * Health of the shard: started and ready once its weights are mapped (so the startup probe covers loading);
 * live unless loading failed (then the pod is restarted, the reason is in the check's data and the log).
 */
@ApplicationScoped
public class ShardHealthChecks {

    @Produces
    @Readiness
    HealthCheck ready(ServedShard served) {
        return () -> weights(served);
    }

    @Produces
    @Startup
    HealthCheck started(ServedShard served) {
        return () -> weights(served);
    }

    @Produces
    @Liveness
    HealthCheck live(ServedShard served) {
        return () -> {
            HealthCheckResponseBuilder b = HealthCheckResponse.named("expert-shard-alive").status(served.failure() == null);
            if (served.failure() != null) {
                b.withData("failure", served.failure());
            }
            return b.build();
        };
    }

    private static HealthCheckResponse weights(ServedShard served) {
        HealthCheckResponseBuilder b = HealthCheckResponse.named("expert-shard").status(served.ready())
                .withData("shard", served.settings().label())
                .withData("experts", served.placement().contiguous()
                        ? served.placement().first() + ".." + (served.placement().end() - 1) : "load-balanced placement")
                .withData("state", served.ready() ? "ready" : served.failure() != null ? "failed" : "loading");
        if (served.failure() != null) {
            b.withData("failure", served.failure());
        }
        return b.build();
    }
}
