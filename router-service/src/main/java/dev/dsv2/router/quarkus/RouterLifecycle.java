package dev.dsv2.router.quarkus;

import dev.dsv2.engine.serve.ServingSettings;
import dev.dsv2.engine.serve.WakeLatency;
import dev.dsv2.proto.tls.InternalTls;
import dev.dsv2.router.RouterEngine;
import dev.dsv2.router.RouterMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import org.eclipse.microprofile.config.Config;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * Builds the {@link RouterEngine} from the configuration contract (every key also an env var, e.g.
 * {@code DSV2_ROUTER_EXPERTS}); bad values fail the start with a message naming the key. The weights are mapped on a
 * background thread after start so that health answers (not ready) meanwhile. The shared serving keys
 * ({@code dsv2.backend}, {@code dsv2.threads}, {@code dsv2.device}, {@code dsv2.weights}, {@code dsv2.kv-cache.tokens},
 * {@code dsv2.context-limit}, {@code dsv2.max-batch-tokens}, {@code dsv2.max-running}, {@code dsv2.max-waiting},
 * {@code dsv2.expert-wire}) are
 * parsed by {@link ServingSettings}, as in every service.
 *
 * <p>Service-internal key (not in the contract): {@code dsv2.router.expert-timeout} (deadline of one shard call,
 * default 30s).
 */
@Singleton
public class RouterLifecycle {
    private static final Logger LOG = Logger.getLogger(RouterLifecycle.class.getName());

    @ConfigProperty(name = "dsv2.model.dir")
    Path modelDir;
    @ConfigProperty(name = "dsv2.router.experts")
    Optional<List<String>> experts;
    @ConfigProperty(name = "dsv2.router.shared-experts", defaultValue = "local")
    String sharedExperts;
    @ConfigProperty(name = "dsv2.router.expert-timeout", defaultValue = "30s")
    Duration expertTimeout;
    @Inject
    Config mpConfig;

    @Produces
    @Singleton
    RouterMetrics metrics(MeterRegistry registry) {
        return new RouterMetrics(registry);
    }

    @Produces
    @Singleton
    RouterEngine engine(RouterMetrics metrics) {
        ServingSettings serving = ServingSettings.parse(key -> mpConfig.getOptionalValue(key, String.class));
        WakeLatency.configure(key -> mpConfig.getOptionalValue(key, String.class));
        RouterEngine.Settings settings = new RouterEngine.Settings(modelDir, serving, experts.orElse(List.of()),
                RouterEngine.SharedExperts.parse(sharedExperts), expertTimeout,
                InternalTls.fromConfig(key -> mpConfig.getOptionalValue(key, String.class)));
        RouterEngine engine = RouterEngine.create(settings, metrics.callObserver());
        metrics.bind(engine);
        return engine;
    }

    void close(@Disposes RouterEngine engine) {
        engine.close();
    }

    void onStart(@Observes StartupEvent event, RouterEngine engine, RouterMetrics metrics) {
        LOG.info(() -> "loading " + modelDir + (engine.remote() != null ? " with remote experts "
                + engine.settings().experts() : " with every expert in-process"));
        Thread.ofPlatform().name("dsv2-router-load").daemon().start(() -> {
            engine.load(line -> { });
            metrics.bindRoutedCounts(engine);
        });
    }
}
