package dev.dsv2.router;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Backends;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.serve.BatchScheduler;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.ServingException;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.OptionalInt;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The router's serving core, framework-free: the model (everything but the routed experts when shards are
 * configured), the latent KV cache and the continuous-batching scheduler, built from {@link Settings}.
 *
 * <p>Lifecycle: {@link #create} reads config.json (bad settings fail here, naming the key) and, with remote experts,
 * starts shard discovery; {@link #load} maps the weights (blocking, typically on a background thread). The engine is
 * {@link #ready()} once the model is loaded and, with remote experts, every shard is known; until then
 * {@link #scheduler()} refuses with UNAVAILABLE saying what is missing.
 *
 * <p>KV cache size: {@code dsv2.kv-cache.tokens} when set, otherwise {@code min(8 x context limit, tokens that 25% of
 * the max heap holds)} (the cache lives on the heap: {@link LatentKvCache#bytesPerToken()} per token), at least one
 * block. A request that needs more than the whole cache is refused at once.
 */
public final class RouterEngine implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(RouterEngine.class.getName());

    /** Where the shared experts run ({@code dsv2.router.shared-experts}). */
    public enum SharedExperts {
        /** On the router, overlapped with the routed-expert calls in flight. */
        LOCAL,
        /** On the shards: one shard per layer adds them for every row. */
        SHARDS;

        public static SharedExperts parse(String value) {
            return switch (value == null ? "" : value.trim().toLowerCase(Locale.ROOT)) {
                case "local" -> LOCAL;
                case "shards" -> SHARDS;
                default -> throw new IllegalArgumentException("dsv2.router.shared-experts (DSV2_ROUTER_SHARED_EXPERTS): '"
                        + value + "' is not a placement (expected local or shards)");
            };
        }
    }

    /**
     * The contract's router keys.
     *
     * @param experts        {@code dsv2.router.experts}: every expert pod, empty for all experts in-process
     * @param kvCacheTokens  {@code dsv2.kv-cache.tokens}, empty for the default (see the class doc)
     * @param contextLimit   {@code dsv2.context-limit}, empty for {@code min(max_position_embeddings, 32768)}
     * @param maxWaiting     queued requests before RESOURCE_EXHAUSTED ({@code dsv2.max-waiting}, service-internal)
     */
    public record Settings(Path modelDir, String backend, int threads, List<String> experts,
                           SharedExperts sharedExperts, WireDtype wireDtype, Duration expertTimeout,
                           OptionalInt kvCacheTokens, OptionalInt contextLimit, int maxBatchTokens, int maxRunning,
                           int maxWaiting) {
        public Settings {
            experts = experts == null ? List.of() : List.copyOf(experts);
            positive("dsv2.threads (DSV2_THREADS)", threads);
            positive("dsv2.max-batch-tokens (DSV2_MAX_BATCH_TOKENS)", maxBatchTokens);
            positive("dsv2.max-running (DSV2_MAX_RUNNING)", maxRunning);
            if (maxWaiting < 0) {
                throw new IllegalArgumentException("dsv2.max-waiting must be >= 0, got " + maxWaiting);
            }
            kvCacheTokens.ifPresent(t -> positive("dsv2.kv-cache.tokens (DSV2_KV_CACHE_TOKENS)", t));
            if (expertTimeout.isNegative() || expertTimeout.isZero()) {
                throw new IllegalArgumentException("dsv2.router.expert-timeout must be positive, got " + expertTimeout);
            }
        }

        /** Everything in-process with the contract's defaults. */
        public static Settings local(Path modelDir, int threads) {
            return new Settings(modelDir, "auto", threads, List.of(), SharedExperts.LOCAL, WireDtype.F32,
                    Duration.ofSeconds(30), OptionalInt.empty(), OptionalInt.empty(), 512, 256, 4096);
        }

        public Settings withExperts(List<String> e, SharedExperts shared, WireDtype wire) {
            return new Settings(modelDir, backend, threads, e, shared, wire, expertTimeout, kvCacheTokens,
                    contextLimit, maxBatchTokens, maxRunning, maxWaiting);
        }

        public Settings withCache(int kvTokens, int limit) {
            return new Settings(modelDir, backend, threads, experts, sharedExperts, wireDtype, expertTimeout,
                    OptionalInt.of(kvTokens), OptionalInt.of(limit), maxBatchTokens, maxRunning, maxWaiting);
        }

        private static void positive(String key, int value) {
            if (value < 1) {
                throw new IllegalArgumentException(key + " must be >= 1, got " + value);
            }
        }
    }

    private final Settings settings;
    private final ModelConfig config;
    private final String modelName;
    private final int contextLimit;
    private final Backend backend;
    private final RemoteExperts remote;
    private volatile Loaded loaded;
    private volatile String failure;
    private volatile BatchScheduler.StepObserver stepObserver = (rows, decode, seqs, nanos) -> { };

    /** What exists once the weights are in. */
    record Loaded(DeepseekV2Model model, LatentKvCache cache, BatchScheduler scheduler, CountingExperts counting) {
    }

    private RouterEngine(Settings settings, ModelConfig config, Backend backend, RemoteExperts remote) {
        this.settings = settings;
        this.config = config;
        this.modelName = settings.modelDir().getFileName().toString();
        this.backend = backend;
        this.remote = remote;
        int limit = settings.contextLimit().orElse(config.defaultContextLimit());
        if (limit < 2 || limit > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("dsv2.context-limit (DSV2_CONTEXT_LIMIT) " + limit + " must be in [2, "
                    + config.maxPositionEmbeddings() + "] (max_position_embeddings of " + modelName + ")");
        }
        this.contextLimit = limit;
    }

    /**
     * Reads config.json, creates the kernel backend and, when {@code settings.experts()} is not empty, connects to
     * the shards (discovery runs in the background).
     */
    public static RouterEngine create(Settings settings, RemoteExperts.CallObserver calls) {
        ModelConfig config = ModelConfig.load(settings.modelDir());
        Backend backend = Backends.create(settings.backend(), settings.threads());
        RemoteExperts remote = null;
        try {
            if (!settings.experts().isEmpty()) {
                RemoteExperts.Options opts = RemoteExperts.Options.defaults().withWireDtype(settings.wireDtype())
                        .withTimeout(settings.expertTimeout())
                        .withSharedOnShards(settings.sharedExperts() == SharedExperts.SHARDS);
                remote = RemoteExperts.connect(config, settings.experts(), opts, calls);
            }
            return new RouterEngine(settings, config, backend, remote);
        } catch (RuntimeException e) {
            if (remote != null) {
                remote.close();
            }
            backend.close();
            throw e;
        }
    }

    /** Called for every scheduler step, also when set before {@link #load}. */
    public void setStepObserver(BatchScheduler.StepObserver observer) {
        this.stepObserver = observer;
        Loaded l = loaded;
        if (l != null) {
            l.scheduler().setStepObserver(observer);
        }
    }

    /**
     * Maps the weights and starts the scheduler (blocking). A failure is kept ({@link #failure()}) and logged, not
     * thrown: the process stays up to report it through health.
     */
    public void load(Consumer<String> progress) {
        long t0 = System.nanoTime();
        try {
            int layers = config.numHiddenLayers();
            int experts = config.nRoutedExperts();
            CountingExperts[] counting = new CountingExperts[1];
            DeepseekV2Model model;
            if (remote != null) {
                model = DeepseekV2Model.load(settings.modelDir(), backend, progress,
                        ckpt -> counting[0] = new CountingExperts(remote, layers, experts),
                        settings.sharedExperts() == SharedExperts.LOCAL);
            } else {
                // The plain loader: the model then knows its experts are in-process (no micro-batch split).
                model = DeepseekV2Model.load(settings.modelDir(), backend, progress);
            }
            LatentKvCache cache = LatentKvCache.forTokens(config, kvCacheTokens());
            if (cache.capacityTokens() < contextLimit) {
                LOG.warning("the KV cache holds " + cache.capacityTokens() + " tokens, less than the context limit "
                        + contextLimit + ": requests needing more are refused; set dsv2.kv-cache.tokens or give the"
                        + " JVM more heap");
            }
            BatchScheduler scheduler = new BatchScheduler(model, cache, new BatchScheduler.Config(
                    settings.maxBatchTokens(), settings.maxRunning(), settings.maxWaiting(), contextLimit));
            scheduler.setStepObserver(stepObserver);
            loaded = new Loaded(model, cache, scheduler, counting[0]);
            LOG.info(String.format("router loaded %s in %.1f s: backend %s, experts %s, shared experts %s, KV cache %d"
                            + " tokens (%.1f MiB), context limit %d", modelName, (System.nanoTime() - t0) / 1e9,
                    backend.name(), remote == null ? "in-process" : "remote (" + settings.experts().size() + " pods, "
                            + settings.wireDtype().name().toLowerCase(Locale.ROOT) + " on the wire)",
                    settings.sharedExperts().name().toLowerCase(Locale.ROOT), cache.capacityTokens(),
                    cache.capacityTokens() * cache.bytesPerToken() / 1048576.0, contextLimit));
        } catch (RuntimeException | Error e) {
            failure = e.getMessage() == null ? e.toString() : e.getMessage();
            LOG.log(Level.SEVERE, "loading " + settings.modelDir() + " failed", e);
        }
    }

    /** The KV cache capacity in tokens: configured, or the default of the class doc. */
    int kvCacheTokens() {
        long bytesPerToken = (long) config.numHiddenLayers() * config.latentCacheDim() * Float.BYTES;
        if (settings.kvCacheTokens().isPresent()) {
            return settings.kvCacheTokens().getAsInt();
        }
        return defaultKvCacheTokens(contextLimit, bytesPerToken, config.latentCacheDim(),
                Runtime.getRuntime().maxMemory());
    }

    /** {@code min(8 x contextLimit, maxHeap/4 / bytesPerToken)}, at least one block, within one layer array. */
    static int defaultKvCacheTokens(int contextLimit, long bytesPerToken, int dim, long maxHeap) {
        long byHeap = maxHeap / 4 / bytesPerToken;
        long byArray = (Integer.MAX_VALUE - 16L) / dim;
        long tokens = Math.min(Math.min(8L * contextLimit, byHeap), byArray);
        return (int) Math.max(LatentKvCache.DEFAULT_BLOCK_SIZE, tokens);
    }

    public boolean modelLoaded() {
        return loaded != null;
    }

    /** Model loaded and, with remote experts, every shard known. */
    public boolean ready() {
        return loaded != null && (remote == null || remote.ready());
    }

    /** Why loading failed, or null. */
    public String failure() {
        return failure;
    }

    /** A one-line state for health checks and refusals. */
    public String state() {
        String model = loaded != null ? "model loaded" : failure != null ? "model failed to load: " + failure
                : "model loading";
        return remote == null ? model + "; experts in-process" : model + "; " + remote.status();
    }

    /** The scheduler, or UNAVAILABLE saying what is not ready yet. */
    public BatchScheduler scheduler() {
        Loaded l = loaded;
        if (l == null || (remote != null && !remote.ready())) {
            throw new ServingException(ErrorKind.UNAVAILABLE, "the router is not ready: " + state());
        }
        return l.scheduler();
    }

    /** The scheduler when loaded (even while shards are missing), else null; for metrics and Status. */
    public BatchScheduler schedulerOrNull() {
        Loaded l = loaded;
        return l == null ? null : l.scheduler();
    }

    /** Routed-token counts per (layer, expert) with remote experts, else (or before loading) null. */
    CountingExperts routedCounts() {
        Loaded l = loaded;
        return l == null ? null : l.counting();
    }

    public ModelConfig config() {
        return config;
    }

    public String modelName() {
        return modelName;
    }

    public int contextLimit() {
        return contextLimit;
    }

    public Settings settings() {
        return settings;
    }

    /** The remote experts, or null when every expert is in-process. */
    public RemoteExperts remote() {
        return remote;
    }

    @Override
    public void close() {
        Loaded l = loaded;
        loaded = null;
        if (l != null) {
            l.scheduler().close();
            l.model().close();
        }
        if (remote != null) {
            remote.close();
        }
        backend.close();
    }
}
