package dev.dsv2.gateway;

import dev.dsv2.engine.serve.ServingSettings;
import dev.dsv2.gateway.core.GenerationService;
import dev.dsv2.gateway.core.InFlightLimit;
import dev.dsv2.gateway.core.Interactive;
import dev.dsv2.gateway.guard.FairAdmission;
import dev.dsv2.gateway.guard.TokenizerGate;
import dev.dsv2.gateway.metrics.ServingMetrics;
import dev.dsv2.gateway.model.GatewaySettings;
import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.openai.OpenAiApi;
import dev.dsv2.proto.tls.InternalTls;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheus.PrometheusMeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Instance;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.eclipse.microprofile.config.Config;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.nio.file.Path;
import java.util.Optional;

/**
 * Wires the gateway from configuration (the keys of the service configuration contract; each also an environment
 * variable, e.g. {@code DSV2_MODEL_DIR}); the shared serving keys are parsed by {@link ServingSettings}, as in every
 * service. The model starts loading in the background at application start.
 */
@ApplicationScoped
public class GatewayBeans {

    @Produces
    @Singleton
    GatewaySettings settings(Config config,
                             @ConfigProperty(name = "dsv2.model.dir") Optional<String> modelDir,
                             @ConfigProperty(name = "dsv2.model.name") Optional<String> modelName,
                             @ConfigProperty(name = "dsv2.gateway.router", defaultValue = "embedded") String router,
                             @ConfigProperty(name = "dsv2.gateway.max-in-flight", defaultValue = "0") int maxInFlight,
                             @ConfigProperty(name = "dsv2.demo.cache-dir") Optional<String> demoCacheDir,
                             @ConfigProperty(name = "quarkus.application.version", defaultValue = "dev")
                             String version) {
        Path cache = demoCacheDir.filter(s -> !s.isBlank()).map(Path::of)
                .orElse(Path.of(System.getProperty("user.home"), ".cache", "dsv2"));
        ServingSettings serving = ServingSettings.parse(key -> config.getOptionalValue(key, String.class));
        return new GatewaySettings(modelDir.filter(s -> !s.isBlank()).map(Path::of), modelName.filter(s -> !s.isBlank()),
                router, serving, maxInFlight, cache, version);
    }

    @Produces
    @Singleton
    ModelHost modelHost(GatewaySettings settings, Config config) {
        // A remote router over mTLS when dsv2.internal-tls.* is set (checked here, at start-up, even when embedded).
        return new ModelHost(settings, InternalTls.fromConfig(key -> config.getOptionalValue(key, String.class)));
    }

    @Produces
    @Singleton
    ServingMetrics metrics(MeterRegistry registry, Instance<PrometheusMeterRegistry> prometheus, ModelHost host) {
        return new ServingMetrics(registry, prometheus.isResolvable() ? Optional.of(prometheus.get())
                : Optional.empty(), host);
    }

    @Produces
    @Singleton
    GenerationService generations(ModelHost host, ServingMetrics metrics) {
        return new GenerationService(host, metrics);
    }

    @Produces
    @Singleton
    @Interactive
    InFlightLimit interactive(GatewaySettings settings) {
        return new InFlightLimit("interactive", settings.maxInFlight());
    }

    @Produces
    @Singleton
    OpenAiApi openAi(GenerationService generations, @Interactive InFlightLimit interactive, FairAdmission admission,
                     TokenizerGate tokenizerGate) {
        return new OpenAiApi(generations, interactive, admission, tokenizerGate);
    }

    void start(@Observes StartupEvent event, ModelHost host, ServingMetrics metrics) {
        host.startLoading();
    }

    void stop(@Observes ShutdownEvent event, ModelHost host) {
        host.close();
    }
}
