package dev.dsv2.gateway.health;

import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.gateway.router.RouterStatus;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;
import org.eclipse.microprofile.health.Startup;

/**
 * Health of the served model, on the Quarkus endpoints:
 * <ul>
 *   <li>{@code /q/health/started}: UP once the model is loaded (embedded: weights mapped and scheduler running;
 *       with a remote router: tokenizer and config.json loaded). Kubernetes' startup probe waits for this.</li>
 *   <li>{@code /q/health/ready}: that, and with a remote router also the router reporting ready (weights loaded,
 *       every expert shard reachable).</li>
 *   <li>{@code /q/health/live}: DOWN only when loading failed for good (a restart is the remedy).</li>
 * </ul>
 * The check's data carries the state and the reason, e.g. the loading progress.
 */
@ApplicationScoped
public class ModelHealth {
    static final String NAME = "model";

    @Inject
    ModelHost host;

    @Produces
    @Startup
    HealthCheck started() {
        return () -> loaded().build();
    }

    @Produces
    @Readiness
    HealthCheck ready() {
        return () -> {
            HealthCheckResponseBuilder b = loaded();
            ServedModel model = host.ifReady().orElse(null);
            if (model != null) {
                RouterStatus status = model.router().status();
                b.withData("router", model.router().describe()).withData("running", status.running())
                        .withData("waiting", status.waiting());
                if (!status.ready()) {
                    b.down().withData("detail", status.detail());
                }
            }
            return b.build();
        };
    }

    @Produces
    @Liveness
    HealthCheck live() {
        return () -> HealthCheckResponse.named(NAME).status(host.state() != ModelHost.State.FAILED)
                .withData("state", host.state().name()).build();
    }

    private HealthCheckResponseBuilder loaded() {
        return HealthCheckResponse.named(NAME).status(host.state() == ModelHost.State.READY)
                .withData("state", host.state().name()).withData("detail", host.describe());
    }
}
