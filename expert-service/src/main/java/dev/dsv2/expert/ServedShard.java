package dev.dsv2.expert;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.model.ExpertPlacement;
import dev.dsv2.engine.model.ExpertShard;
import dev.dsv2.engine.model.PlacementPlan;
import dev.dsv2.engine.model.WeightFormat;
import dev.dsv2.engine.serve.ModelLifecycle;
import dev.dsv2.engine.serve.StartupWarmup;
import dev.dsv2.proto.internal.v1.LayerExperts;
import dev.dsv2.proto.internal.v1.ShardInfo;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * The shard this process serves and where its weights are: LOADING (placement known from config.json, weights
 * being mapped), READY, or FAILED with the reason (a {@link ModelLifecycle}). {@link #info()} answers in every state (with {@code ready} set
 * accordingly), so a router learns the placement of a shard that is still loading; {@link #shard()} refuses with
 * UNAVAILABLE until the weights are in.
 */
public final class ServedShard implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ServedShard.class.getName());

    private final ShardSettings settings;
    private final ModelConfig config;
    private final ExpertPlacement placement;
    private final String modelName;
    private final ModelLifecycle<ExpertShard> lifecycle;

    /** The contiguous default placement: shard i of N owns experts [i*E/N, (i+1)*E/N) in every layer. */
    public ServedShard(ShardSettings settings, ModelConfig config, String modelName) {
        this(settings, config, modelName, contiguous(settings, config, modelName));
    }

    /**
     * The placement of a {@link PlacementPlan} file ({@code dsv2.shard.placement}, written by {@code ./dsv2
     * placement}): this shard's experts in each layer.
     *
     * @throws IllegalArgumentException naming the file when it does not fit the model or dsv2.shard.count
     */
    public ServedShard(ShardSettings settings, ModelConfig config, String modelName, Path placementFile) {
        this(settings, config, modelName, planned(settings, config, placementFile));
    }

    private ServedShard(ShardSettings settings, ModelConfig config, String modelName, ExpertPlacement placement) {
        this.settings = settings;
        this.config = config;
        this.modelName = modelName;
        this.placement = placement;
        this.lifecycle = new ModelLifecycle<>(settings.label(), ExpertShard::close);
    }

    private static ExpertPlacement contiguous(ShardSettings settings, ModelConfig config, String modelName) {
        requireExperts(config, modelName);
        return new ExpertPlacement(settings.shardIndex(), settings.shardCount(), config.nRoutedExperts());
    }

    private static ExpertPlacement planned(ShardSettings settings, ModelConfig config, Path file) {
        requireExperts(config, file.toString());
        PlacementPlan plan = PlacementPlan.read(file, config.numHiddenLayers(), config.nRoutedExperts());
        if (plan.shardCount() != settings.shardCount()) {
            throw new IllegalArgumentException("dsv2.shard.placement " + file + " places the experts on "
                    + plan.shardCount() + " shards but dsv2.shard.count is " + settings.shardCount());
        }
        return plan.forShard(settings.shardIndex());
    }

    private static void requireExperts(ModelConfig config, String modelName) {
        if (config.nRoutedExperts() < 1) {
            throw new IllegalArgumentException("model " + modelName + " has no routed experts (n_routed_experts is "
                    + config.nRoutedExperts() + "): there is nothing for an expert shard to serve");
        }
    }

    /** A shard whose weights are already loaded (embedding and tests), with the shard's own placement. */
    public static ServedShard ofLoaded(ShardSettings settings, ExpertShard shard, String modelName) {
        ServedShard s = new ServedShard(settings, shard.config(), modelName, shard.placement());
        s.lifecycle.load(() -> shard);
        return s;
    }

    /**
     * Maps the shard's weights from {@code dir} on this thread, then runs the start-up warm-up of its compute path
     * ({@link StartupWarmup#shard}, {@code warmupSteps} calls per MoE layer and batch size; 0 = none) before the shard
     * reports ready. On failure to load the state becomes FAILED with the reason (and it is logged), so health checks
     * can report it; a warm-up that stops early is logged and the shard starts cold. Each progress line is logged
     * and shown by health while loading (mapping, prefaulting the shard's experts, warming up), then passed to
     * {@code progress} (may be null).
     */
    public void load(Path dir, Backend backend, WeightFormat weights, int warmupSteps, Consumer<String> progress) {
        Consumer<String> report = lifecycle.reporting(progress);
        lifecycle.load(() -> {
            long t0 = System.nanoTime();
            ExpertShard loaded = ExpertShard.load(dir, backend, placement, settings.sharedExperts(), weights,
                    report);
            long mapped = System.nanoTime();
            if (warmupSteps > 0) {
                report.accept("warming up (JIT): " + warmupSteps + " calls per MoE layer at 1 row, half and a quarter"
                        + " of that at 4 and 16 rows");
                StartupWarmup.Result r = StartupWarmup.shard(loaded, warmupSteps, report);
                if (r.stoppedBy() != null) {
                    LOG.warning(() -> settings.label() + ": start-up warm-up stopped early: " + r.stoppedBy()
                            + "; the first calls run cold");
                }
            }
            LOG.info(() -> String.format("%s ready: %s, %.1f MiB of expert weights mapped in %.1f s%s",
                    settings.label(), loaded, loaded.weightBytes() / 1048576.0, (mapped - t0) / 1e9,
                    warmupSteps > 0 ? String.format(", warmed up in %.1f s", (System.nanoTime() - mapped) / 1e9)
                            : ""));
            return loaded;
        });
    }

    public ShardSettings settings() {
        return settings;
    }

    public ModelConfig config() {
        return config;
    }

    public ExpertPlacement placement() {
        return placement;
    }

    public String modelName() {
        return modelName;
    }

    public boolean ready() {
        return lifecycle.ready();
    }

    /** Why loading failed, or null. */
    public String failure() {
        return lifecycle.failure();
    }

    /** The loaded shard, or UNAVAILABLE naming the state. */
    public ExpertShard shard() {
        ExpertShard s = lifecycle.orNull();
        if (s != null) {
            return s;
        }
        String f = lifecycle.failure();
        throw new StatusRuntimeException(Status.UNAVAILABLE.withDescription(settings.label()
                + (f != null ? " failed to load its weights: " + f : " is still loading its weights")));
    }

    public ShardInfo info() {
        ShardInfo.Builder b = ShardInfo.newBuilder()
                .setShardIndex(settings.shardIndex())
                .setShardCount(settings.shardCount())
                .setReplicas(settings.replicas())
                .setHoldsShared(settings.sharedExperts() && config.nSharedExperts() > 0)
                .setNumLayers(config.numHiddenLayers())
                .setHiddenSize(config.hiddenSize())
                .setModel(modelName)
                .setReady(ready());
        if (placement.contiguous()) {
            for (int e : placement.owned()) {
                b.addOwnedExperts(e);
            }
        } else {
            for (int l = 0; l < config.numHiddenLayers(); l++) {
                if (config.isMoeLayer(l)) {
                    LayerExperts.Builder layer = LayerExperts.newBuilder().setLayer(l);
                    for (int e : placement.owned(l)) {
                        layer.addExperts(e);
                    }
                    b.addLayers(layer);
                }
            }
        }
        ExpertShard s = lifecycle.orNull();
        if (s != null) {
            b.setWeightBytes(s.weightBytes());
        }
        return b.build();
    }

    @Override
    public void close() {
        lifecycle.close();
    }
}
