package dev.dsv2.engine.serve;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.device.DeviceChoice;
import dev.dsv2.engine.device.DeviceRequest;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.model.WeightFormat;

import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * One served model: the kernel backend, the model, the paged latent KV cache sized by one policy, and the
 * continuous-batching {@link BatchScheduler} over them, all from {@link ServingSettings}. Every deployment mode
 * assembles its model this way (the gateway's embedded router, the router-service with in-process or remote
 * experts), so the same checkpoint and settings give the same cache, scheduler and tokens everywhere.
 *
 * <p><b>KV cache size.</b> {@code dsv2.kv-cache.tokens} when set; otherwise
 * {@code min(8 x context limit, tokens that 25% of the max heap holds)}, at least one block and at most what one
 * layer array holds ({@link #defaultCacheTokens}). The cache lives on the JVM heap at
 * {@link LatentKvCache#bytesPerToken(ModelConfig)} per token; the weights are memory-mapped, off the heap. The policy
 * reads the max heap (-Xmx), not the heap free at the moment of loading, so the size does not depend on what else
 * the process happened to allocate first: a gateway with an embedded router and a router-service given the same heap
 * get the same cache. A quarter leaves the rest of the heap to the workspaces, requests and (embedded) the gateway;
 * eight contexts let eight full-length requests, or many short ones, run at once without preemption.
 */
public final class ServingEngine implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ServingEngine.class.getName());

    /** The default cache takes at most this share of the max heap... */
    public static final double DEFAULT_CACHE_HEAP_SHARE = 0.25;
    /** ...and holds at most this many full contexts. */
    public static final int DEFAULT_CACHE_CONTEXTS = 8;

    /** Builds the model from an opened backend; the router passes one that leaves the routed experts remote. */
    @FunctionalInterface
    public interface ModelFactory {
        DeepseekV2Model load(Path dir, Backend backend, WeightFormat weights, Consumer<String> progress);
    }

    private final ServingSettings settings;
    private final Backend backend;
    private final DeepseekV2Model model;
    private final LatentKvCache cache;
    private final BatchScheduler scheduler;
    private final int contextLimit;

    private ServingEngine(ServingSettings settings, Backend backend, DeepseekV2Model model, LatentKvCache cache,
                          BatchScheduler scheduler, int contextLimit) {
        this.settings = settings;
        this.backend = backend;
        this.model = model;
        this.cache = cache;
        this.scheduler = scheduler;
        this.contextLimit = contextLimit;
    }

    /** Loads the checkpoint in {@code dir} with every expert in-process (blocking). */
    public static ServingEngine load(Path dir, ServingSettings settings, Consumer<String> progress) {
        return load(dir, settings, DeepseekV2Model::load, progress);
    }

    /**
     * Opens the kernel backend, loads the model with {@code factory}, sizes the cache and starts the scheduler
     * (blocking). {@code progress} receives human-readable steps.
     *
     * @throws IllegalArgumentException when the context limit does not fit the model
     */
    public static ServingEngine load(Path dir, ServingSettings settings, ModelFactory factory,
                                     Consumer<String> progress) {
        Consumer<String> report = progress == null ? line -> { } : progress;
        DeviceChoice device = settings.selectDevice(dir);
        if (device.request().kind() == DeviceRequest.Kind.AUTO) {
            LOG.info(device.describe());
        }
        Backend backend = settings.createBackend(device);
        DeepseekV2Model model = null;
        try {
            report.accept("kernel backend " + backend.name() + " with " + settings.threads() + " threads (device "
                    + settings.device() + ", weights " + settings.weights() + ")");
            model = factory.load(dir, backend, settings.weights(), report);
            ModelConfig config = model.config();
            int limit = settings.contextLimit(config);
            long[] deviceMemory = backend.deviceMemory();
            int tokens = deviceMemory == null ? cacheTokens(settings, config, limit, Runtime.getRuntime().maxMemory())
                    : deviceCacheTokens(settings, config, deviceMemory);
            LatentKvCache cache = LatentKvCache.forTokens(config, tokens, backend);
            report.accept(String.format("latent KV cache: %,d tokens in %d blocks of %d (%.1f MiB in %s memory)%s",
                    cache.capacityTokens(), cache.totalBlocks(), cache.blockSize(),
                    cache.capacityTokens() * cache.bytesPerToken() / 1048576.0,
                    deviceMemory == null ? "host" : backend.name() + " device",
                    settings.kvCacheTokens().isPresent() ? "" : "; set dsv2.kv-cache.tokens to change"));
            if (cache.capacityTokens() < limit) {
                LOG.warning("the KV cache holds " + cache.capacityTokens() + " tokens, less than the context limit "
                        + limit + ": requests needing more are refused; set dsv2.kv-cache.tokens or give the JVM"
                        + " more heap");
            }
            BatchScheduler scheduler = new BatchScheduler(model, cache, settings.schedulerConfig(limit));
            return new ServingEngine(settings, backend, model, cache, scheduler, limit);
        } catch (RuntimeException | Error e) {
            if (model != null) {
                model.close();
            }
            backend.close();
            throw e;
        }
    }

    /**
     * The cache capacity in device memory ({@code {free, total}} bytes after the weights are uploaded):
     * {@code dsv2.kv-cache.tokens} if it fits, else every token {@link DeviceMemoryPlan} fits (within one layer
     * buffer).
     *
     * @throws IllegalArgumentException when the configured tokens do not fit, naming both numbers
     */
    public static int deviceCacheTokens(ServingSettings settings, ModelConfig config, long[] deviceMemory) {
        DeviceMemoryPlan plan = new DeviceMemoryPlan(deviceMemory[0], deviceMemory[1], settings.gpuMemoryFraction(),
                LatentKvCache.bytesPerToken(config), LatentKvCache.DEFAULT_BLOCK_SIZE);
        int tokens = plan.cacheTokens(settings.kvCacheTokens());
        return settings.kvCacheTokens().isPresent() ? tokens : (int) Math.min(tokens, LatentKvCache.maxTokens(config));
    }

    /** The cache capacity in tokens: {@code dsv2.kv-cache.tokens}, else {@link #defaultCacheTokens}. */
    public static int cacheTokens(ServingSettings settings, ModelConfig config, int contextLimit, long maxHeap) {
        return settings.kvCacheTokens().orElseGet(() -> defaultCacheTokens(config, contextLimit, maxHeap));
    }

    /**
     * The default policy (class doc): {@code min(8 x contextLimit, maxHeap / 4 / bytesPerToken)}, at least one
     * block, within one layer array.
     */
    public static int defaultCacheTokens(ModelConfig config, int contextLimit, long maxHeap) {
        long byHeap = (long) (maxHeap * DEFAULT_CACHE_HEAP_SHARE) / LatentKvCache.bytesPerToken(config);
        long tokens = Math.min(Math.min((long) DEFAULT_CACHE_CONTEXTS * contextLimit, byHeap),
                LatentKvCache.maxTokens(config));
        return (int) Math.max(LatentKvCache.DEFAULT_BLOCK_SIZE, tokens);
    }

    public ServingSettings settings() {
        return settings;
    }

    public Backend backend() {
        return backend;
    }

    public DeepseekV2Model model() {
        return model;
    }

    public LatentKvCache cache() {
        return cache;
    }

    public BatchScheduler scheduler() {
        return scheduler;
    }

    /** Prompt + completion tokens per request, resolved against the model. */
    public int contextLimit() {
        return contextLimit;
    }

    /**
     * The start-up warm-up ({@link StartupWarmup}, {@code dsv2.warmup-steps} tokens per request; 0 = none) through
     * this engine's scheduler, blocking: the assemblies call it after loading and before they report ready. Logged
     * (INFO when it completed, WARNING naming why when it stopped early); never throws for a failed request.
     */
    public StartupWarmup.Result warmUp(Consumer<String> progress) {
        int steps = settings.warmupSteps();
        if (steps == 0) {
            return new StartupWarmup.Result(0, 0, 0, null);
        }
        Consumer<String> report = progress == null ? line -> { } : progress;
        report.accept("warming up (JIT): batch sizes 1, 4 and 16, " + steps + " tokens per request at batch 1;"
                + " set " + ServingSettings.WARMUP_STEPS + "=0 to skip");
        StartupWarmup.Result r = StartupWarmup.run(scheduler, cache.capacityTokens(), steps, report);
        if (r.stoppedBy() == null) {
            LOG.info(() -> "start-up warm-up: " + r.describe());
        } else {
            LOG.warning(() -> "start-up warm-up: " + r.describe() + "; the first requests run cold");
        }
        return r;
    }

    /** "12,288 tokens (720.0 MiB)": the cache for start-up logs. */
    public String describeCache() {
        return String.format("%,d tokens (%.1f MiB)", cache.capacityTokens(),
                cache.capacityTokens() * cache.bytesPerToken() / 1048576.0);
    }

    /** Stops the scheduler (failing what is in flight with UNAVAILABLE), then unmaps the model and the backend. */
    @Override
    public void close() {
        scheduler.close();
        model.close();
        backend.close();
    }
}
