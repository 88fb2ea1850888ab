package dev.dsv2.router.quarkus;

import dev.dsv2.router.RouterEngine;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;
import org.eclipse.microprofile.health.Startup;

/**
 * Router health: started once the weights are loaded (the startup probe covers loading); ready once, in addition,
 * every expert shard is known; live unless loading failed. The check data say what is missing.
 */
@ApplicationScoped
public class RouterHealthChecks {

    @Produces
    @Readiness
    HealthCheck ready(RouterEngine engine) {
        return () -> describe("router", engine.ready(), engine);
    }

    @Produces
    @Startup
    HealthCheck started(RouterEngine engine) {
        return () -> describe("router-model", engine.modelLoaded(), engine);
    }

    @Produces
    @Liveness
    HealthCheck live(RouterEngine engine) {
        return () -> describe("router-alive", engine.failure() == null, engine);
    }

    private static HealthCheckResponse describe(String name, boolean up, RouterEngine engine) {
        HealthCheckResponseBuilder b = HealthCheckResponse.named(name).status(up)
                .withData("model", engine.modelName())
                .withData("state", engine.state());
        return b.build();
    }
}
