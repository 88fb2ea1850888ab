package dev.dsv2.gateway.guard;

import dev.dsv2.gateway.core.GenerationService;
import dev.dsv2.gateway.core.InFlightLimit;
import dev.dsv2.gateway.core.Interactive;
import dev.dsv2.gateway.openai.OpenAiApi;
import io.quarkus.runtime.ShutdownDelayInitiatedEvent;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.logging.Logger;

/**
 * Wires the gateway's protections ({@link GuardSettings}) from configuration, kept apart from the model wiring
 * ({@code GatewayBeans}). Also the shutdown drain: it runs first among the shutdown observers, before the Kafka
 * consumer and the model host close.
 */
@ApplicationScoped
public class GuardBeans {
    private static final Logger LOG = Logger.getLogger(GuardBeans.class.getName());

    @Produces
    @Singleton
    GuardSettings settings(@ConfigProperty(name = "dsv2.api-keys") Optional<List<String>> apiKeys,
                           @ConfigProperty(name = "dsv2.api-keys-file") Optional<String> apiKeysFile,
                           @ConfigProperty(name = "dsv2.auth.open-paths", defaultValue = "/q/health,/q/metrics")
                           List<String> openPaths,
                           @ConfigProperty(name = "dsv2.gateway.max-sequences-per-request", defaultValue = "512")
                           int maxSequences,
                           @ConfigProperty(name = "dsv2.gateway.max-request-tokens", defaultValue = "4194304")
                           long maxRequestTokens,
                           @ConfigProperty(name = "dsv2.gateway.max-queued-sequences", defaultValue = "2048")
                           int queuedSequences,
                           @ConfigProperty(name = "dsv2.gateway.owner-share", defaultValue = "0.5") double ownerShare,
                           @ConfigProperty(name = "dsv2.gateway.admission-wait", defaultValue = "10s")
                           Duration admissionWait,
                           @ConfigProperty(name = "dsv2.gateway.tokenizer-threads") OptionalInt tokenizerThreads,
                           @ConfigProperty(name = "dsv2.shutdown.drain-timeout", defaultValue = "30s")
                           Duration drainTimeout) {
        ApiKeys keys = ApiKeys.of(apiKeys.orElse(List.of()),
                apiKeysFile.filter(s -> !s.isBlank()).map(Path::of));
        LOG.info(keys.required() ? "API keys required: " + keys.count() + " key(s) configured"
                : "no API keys configured: the HTTP and gRPC APIs are open to every client that can reach them");
        List<String> open = openPaths.stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
        return new GuardSettings(keys, open, maxSequences, maxRequestTokens, queuedSequences, ownerShare,
                admissionWait, tokenizerThreads.orElse(Math.max(2, Runtime.getRuntime().availableProcessors())),
                drainTimeout);
    }

    @Produces
    @Singleton
    FairAdmission admission(GuardSettings settings) {
        return new FairAdmission(settings);
    }

    @Produces
    @Singleton
    TokenizerGate tokenizerGate(GuardSettings settings) {
        return new TokenizerGate(settings);
    }

    @Produces
    @Singleton
    ShutdownDrain drain(GuardSettings settings) {
        return new ShutdownDrain(settings.drainTimeout());
    }

    /** Readiness DOWN from the first moment of the shutdown drain. */
    @Produces
    @Readiness
    HealthCheck accepting(ShutdownDrain drain) {
        return () -> HealthCheckResponse.named("accepting").status(!drain.draining()).build();
    }

    /**
     * Drains the interactive APIs at the very start of shutdown, while the HTTP and gRPC servers still serve (Quarkus'
     * pre-shutdown phase, {@code quarkus.shutdown.delay-enabled=true}; by {@link ShutdownEvent} the HTTP server is
     * already closed). Kafka batch requests are left to the batch consumer, which stops later: it commits what
     * finished and leaves the rest to be re-read (aborting them here would commit "abort" results).
     */
    void drainOnShutdown(@Observes ShutdownDelayInitiatedEvent event, ShutdownDrain drain,
                         @Interactive InFlightLimit interactive, GenerationService generations) {
        drain.drain(interactive::inFlight, () -> generations.abortAll(api -> !OpenAiApi.BATCH_API.equals(api)));
    }

    /** The same, should the pre-shutdown phase not have run (a no-op after it did). */
    void drainAtShutdownEvent(@Observes @Priority(0) ShutdownEvent event, ShutdownDrain drain,
                              @Interactive InFlightLimit interactive, GenerationService generations) {
        drainOnShutdown(null, drain, interactive, generations);
    }
}
