package dev.dsv2.expert.quarkus;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.device.DeviceChoice;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.serve.ServingSettings;
import dev.dsv2.engine.serve.WakeLatency;
import dev.dsv2.expert.ExpertMetrics;
import dev.dsv2.expert.ServedShard;
import dev.dsv2.expert.ShardSettings;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Inject;
import jakarta.inject.Named;
import jakarta.inject.Singleton;
import org.eclipse.microprofile.config.Config;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * Wires the expert shard into Quarkus from the configuration contract (every key also an env var): which shard this
 * is ({@code dsv2.shard.*}), the checkpoint ({@code dsv2.model.dir}) and kernels ({@code dsv2.backend},
 * {@code dsv2.threads}, {@code dsv2.device}, {@code dsv2.weights}: the shared serving keys, parsed by
 * {@link ServingSettings} as in every service). Bad configuration fails the start with a message naming the key; the
 * weights are mapped on a background thread after start, so health endpoints answer (not ready) while they load.
 * {@code dsv2.shard.placement} (optional) is a placement file from {@code ./dsv2 placement}: this shard then holds
 * that plan's experts of each layer instead of the contiguous default range (give every shard the same file).
 *
 * <p>Service-internal keys (not in the contract): {@code dsv2.expert.compute-threads} (default 2) Compute calls run
 * at once, each using the kernel threads; {@code dsv2.expert.compute-queue} (default 64) calls that may wait before
 * new ones get RESOURCE_EXHAUSTED.
 */
@Singleton
public class ExpertShardLifecycle {
    private static final Logger LOG = Logger.getLogger(ExpertShardLifecycle.class.getName());

    @ConfigProperty(name = "dsv2.model.dir")
    Path modelDir;
    @ConfigProperty(name = "dsv2.shard.count", defaultValue = "1")
    int shardCount;
    @ConfigProperty(name = "dsv2.shard.index")
    OptionalInt shardIndex;
    @ConfigProperty(name = "dsv2.shard.ordinal")
    OptionalInt shardOrdinal;
    @ConfigProperty(name = "dsv2.shard.replicas", defaultValue = "1")
    int replicas;
    @ConfigProperty(name = "dsv2.shard.shared-experts", defaultValue = "true")
    boolean sharedExperts;
    @ConfigProperty(name = "dsv2.shard.placement")
    Optional<Path> placement;
    @ConfigProperty(name = "dsv2.expert.compute-threads", defaultValue = "2")
    int computeThreads;
    @ConfigProperty(name = "dsv2.expert.compute-queue", defaultValue = "64")
    int computeQueue;
    @Inject
    Config mpConfig;

    private Backend backend;

    @Produces
    @Singleton
    ServedShard servedShard() {
        ShardSettings settings = ShardSettings.resolve(shardCount, shardIndex, shardOrdinal, replicas, sharedExperts);
        ModelConfig config = ModelConfig.load(modelDir);
        return placement.isPresent()
                ? new ServedShard(settings, config, modelDir.getFileName().toString(), placement.get())
                : new ServedShard(settings, config, modelDir.getFileName().toString());
    }

    @Produces
    @Singleton
    ExpertMetrics metrics(MeterRegistry registry, ServedShard served) {
        return new ExpertMetrics(registry, served.config(), served.placement());
    }

    @Produces
    @Singleton
    @Named("expert-compute")
    ExecutorService computeExecutor() {
        if (computeThreads < 1 || computeQueue < 1) {
            throw new IllegalArgumentException("dsv2.expert.compute-threads (" + computeThreads
                    + ") and dsv2.expert.compute-queue (" + computeQueue + ") must be >= 1");
        }
        ThreadPoolExecutor pool = new ThreadPoolExecutor(computeThreads, computeThreads, 60, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(computeQueue),
                Thread.ofPlatform().name("dsv2-expert-compute-", 1).daemon().factory());
        return pool;
    }

    void onStart(@Observes StartupEvent event, ServedShard served) {
        ServingSettings serving = ServingSettings.parse(key -> mpConfig.getOptionalValue(key, String.class));
        WakeLatency.configure(key -> mpConfig.getOptionalValue(key, String.class));
        DeviceChoice device = serving.selectDevice(modelDir);
        LOG.info(device::describe);
        backend = serving.createBackend(device);
        LOG.info(() -> served.settings().label() + " of " + served.modelName() + ": " + served.placement()
                + (served.settings().sharedExperts() ? " + shared experts" : "")
                + ", kernel backend " + backend.name() + "; loading weights from " + modelDir);
        Thread.ofPlatform().name("dsv2-expert-load").daemon()
                .start(() -> served.load(modelDir, backend, serving.weights(), serving.warmupSteps(), line -> { }));
    }

    void onStop(@Observes ShutdownEvent event, ServedShard served, @Named("expert-compute") ExecutorService compute) {
        compute.shutdownNow();
        served.close();
        if (backend != null) {
            backend.close();
        }
    }
}
