package dev.dsv2.gateway.router;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Backends;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.engine.serve.BatchScheduler;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.GenerationListener;

import java.nio.file.Path;
import java.util.OptionalInt;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;

/**
 * {@code dsv2.gateway.router=embedded}: the router in this JVM. The model (every expert local), the paged latent KV
 * cache and the continuous-batching {@link BatchScheduler} run in-process; requests reach the scheduler directly,
 * with no loopback gRPC. Scheduler callbacks are handed to a per-request {@link SerialExecutor} on virtual threads,
 * so the scheduler thread never runs gateway code (detokenization, JSON, network writes).
 */
public final class EmbeddedRouter implements RouterClient {
    /** When {@code dsv2.kv-cache.tokens} is unset: this share of the heap left free after loading. */
    static final double DEFAULT_CACHE_HEAP_SHARE = 0.5;
    /** ... but no more than this many full contexts. */
    static final int DEFAULT_CACHE_MAX_CONTEXTS = 4;

    /**
     * How to build the embedded router.
     *
     * @param backend        {@code dsv2.backend}: auto, cpu (vector), scalar
     * @param threads        {@code dsv2.threads}: kernel threads
     * @param kvCacheTokens  {@code dsv2.kv-cache.tokens}; empty: sized from free heap (see the constants)
     * @param contextLimit   prompt + completion tokens per request
     */
    public record Options(String backend, int threads, OptionalInt kvCacheTokens, int contextLimit,
                          int maxBatchTokens, int maxRunning) {
    }

    private final DeepseekV2Model model;
    private final LatentKvCache cache;
    private final BatchScheduler scheduler;
    private final ExecutorService callbacks = Executors.newVirtualThreadPerTaskExecutor();

    EmbeddedRouter(DeepseekV2Model model, LatentKvCache cache, BatchScheduler scheduler) {
        this.model = model;
        this.cache = cache;
        this.scheduler = scheduler;
    }

    /**
     * Loads the checkpoint in {@code dir} with every expert local, sizes the cache and starts the scheduler.
     * {@code progress} receives human-readable steps (for the logs).
     */
    public static EmbeddedRouter load(Path dir, Options options, Consumer<String> progress) {
        Backend backend = Backends.create(options.backend(), options.threads());
        progress.accept("kernel backend " + backend.name() + " with " + options.threads() + " threads");
        DeepseekV2Model model = DeepseekV2Model.load(dir, backend, progress);
        ModelConfig config = model.config();
        int tokens = options.kvCacheTokens().orElseGet(() -> defaultCacheTokens(config, options.contextLimit()));
        LatentKvCache cache = LatentKvCache.forTokens(config, tokens);
        progress.accept(String.format("latent KV cache: %,d tokens in %d blocks of %d (%.1f MiB)%s",
                cache.capacityTokens(), cache.totalBlocks(), cache.blockSize(),
                cache.capacityTokens() * cache.bytesPerToken() / (double) (1 << 20),
                options.kvCacheTokens().isPresent() ? "" : "; set dsv2.kv-cache.tokens to change"));
        BatchScheduler scheduler = new BatchScheduler(model, cache, new BatchScheduler.Config(options.maxBatchTokens(),
                options.maxRunning(), BatchScheduler.Config.defaults(options.contextLimit()).maxWaiting(),
                options.contextLimit()));
        return new EmbeddedRouter(model, cache, scheduler);
    }

    /** Half the free heap, at most {@value #DEFAULT_CACHE_MAX_CONTEXTS} full contexts, at least one block. */
    static int defaultCacheTokens(ModelConfig config, int contextLimit) {
        Runtime rt = Runtime.getRuntime();
        long freeHeap = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        long bytesPerToken = (long) config.numHiddenLayers() * config.latentCacheDim() * Float.BYTES;
        long byHeap = (long) (freeHeap * DEFAULT_CACHE_HEAP_SHARE / bytesPerToken);
        long perLayerArrayLimit = (Integer.MAX_VALUE - 16L) / config.latentCacheDim();
        long tokens = Math.min(Math.min(byHeap, (long) DEFAULT_CACHE_MAX_CONTEXTS * contextLimit), perLayerArrayLimit);
        return (int) Math.max(LatentKvCache.DEFAULT_BLOCK_SIZE, tokens);
    }

    public ModelConfig modelConfig() {
        return model.config();
    }

    /** Scheduler figures for metrics (running, waiting, blocks). */
    public BatchScheduler.Stats stats() {
        return scheduler.stats();
    }

    /** Per-step figures (rows, decode rows, sequences, wall time) for metrics. */
    public void setStepObserver(BatchScheduler.StepObserver observer) {
        scheduler.setStepObserver(observer);
    }

    @Override
    public void generate(RouterRequest request, RouterListener listener) {
        SerialExecutor serial = new SerialExecutor(callbacks);
        scheduler.submit(request.requestId(), request.promptIds(), request.params(), new GenerationListener() {
            @Override
            public void onToken(int tokenId, float logprob, TopLogprobs top) {
                serial.execute(() -> listener.onToken(tokenId, logprob, top));
            }

            @Override
            public void onComplete(FinishReason reason, int promptTokens, int completionTokens) {
                serial.execute(() -> listener.onComplete(reason, promptTokens, completionTokens));
            }

            @Override
            public void onError(ErrorKind kind, String message) {
                serial.execute(() -> listener.onError(kind, message));
            }
        });
    }

    @Override
    public boolean abort(String requestId) {
        return scheduler.abort(requestId);
    }

    @Override
    public RouterStatus status() {
        BatchScheduler.Stats s = scheduler.stats();
        return new RouterStatus(true, s.running(), s.waiting(), s.totalBlocks(), s.usedBlocks(), s.blockSize(),
                scheduler.config().contextLimit(), model.config().vocabSize(), "");
    }

    @Override
    public String describe() {
        return "embedded";
    }

    /** Test and metrics access to the cache's block counts. */
    public LatentKvCache cache() {
        return cache;
    }

    @Override
    public void close() {
        scheduler.close();
        callbacks.close();
        model.close();
    }
}
