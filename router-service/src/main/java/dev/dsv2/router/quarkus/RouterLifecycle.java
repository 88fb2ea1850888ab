package dev.dsv2.router.quarkus;

import dev.dsv2.router.RouterEngine;
import dev.dsv2.router.RouterMetrics;
import dev.dsv2.router.WireDtype;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.logging.Logger;

/**
 * Builds the {@link RouterEngine} from the configuration contract (every key also an env var, e.g.
 * {@code DSV2_ROUTER_EXPERTS}); bad values fail the start with a message naming the key. The weights are mapped on a
 * background thread after start so that health answers (not ready) meanwhile. For {@code dsv2.threads},
 * {@code dsv2.kv-cache.tokens} and {@code dsv2.context-limit} a value of 0 means "the default", as in the Helm values.
 *
 * <p>Service-internal keys (not in the contract): {@code dsv2.router.wire-dtype} ({@code bf16} | {@code f32},
 * default f32), {@code dsv2.router.expert-timeout} (deadline of one shard call, default 30s),
 * {@code dsv2.max-waiting} (queued requests before RESOURCE_EXHAUSTED, default 4096).
 */
@Singleton
public class RouterLifecycle {
    private static final Logger LOG = Logger.getLogger(RouterLifecycle.class.getName());

    @ConfigProperty(name = "dsv2.model.dir")
    Path modelDir;
    @ConfigProperty(name = "dsv2.backend", defaultValue = "auto")
    String backend;
    @ConfigProperty(name = "dsv2.threads")
    OptionalInt threads;
    @ConfigProperty(name = "dsv2.router.experts")
    Optional<List<String>> experts;
    @ConfigProperty(name = "dsv2.router.shared-experts", defaultValue = "local")
    String sharedExperts;
    @ConfigProperty(name = "dsv2.router.wire-dtype", defaultValue = "f32")
    String wireDtype;
    @ConfigProperty(name = "dsv2.router.expert-timeout", defaultValue = "30s")
    Duration expertTimeout;
    @ConfigProperty(name = "dsv2.kv-cache.tokens")
    OptionalInt kvCacheTokens;
    @ConfigProperty(name = "dsv2.context-limit")
    OptionalInt contextLimit;
    @ConfigProperty(name = "dsv2.max-batch-tokens", defaultValue = "512")
    int maxBatchTokens;
    @ConfigProperty(name = "dsv2.max-running", defaultValue = "256")
    int maxRunning;
    @ConfigProperty(name = "dsv2.max-waiting", defaultValue = "4096")
    int maxWaiting;

    private static OptionalInt zeroIsUnset(OptionalInt v) {
        return v.isPresent() && v.getAsInt() == 0 ? OptionalInt.empty() : v;
    }

    @Produces
    @Singleton
    RouterMetrics metrics(MeterRegistry registry) {
        return new RouterMetrics(registry);
    }

    @Produces
    @Singleton
    RouterEngine engine(RouterMetrics metrics) {
        RouterEngine.Settings settings = new RouterEngine.Settings(modelDir, backend,
                zeroIsUnset(threads).orElse(Runtime.getRuntime().availableProcessors()),
                experts.orElse(List.of()), RouterEngine.SharedExperts.parse(sharedExperts),
                WireDtype.parse(wireDtype), expertTimeout, zeroIsUnset(kvCacheTokens), zeroIsUnset(contextLimit),
                maxBatchTokens, maxRunning, maxWaiting);
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
            engine.load(LOG::fine);
            metrics.bindRoutedCounts(engine);
        });
    }
}
