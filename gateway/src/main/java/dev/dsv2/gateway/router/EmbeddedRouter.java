package dev.dsv2.gateway.router;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.engine.serve.BatchScheduler;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.GenerationListener;
import dev.dsv2.engine.serve.ServingEngine;
import dev.dsv2.engine.serve.ServingSettings;

import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;

/**
 * {@code dsv2.gateway.router=embedded}: the router in this JVM. A {@link ServingEngine} (the model with every expert
 * local, the paged latent KV cache, the continuous-batching {@link BatchScheduler}) assembled exactly as the
 * router-service assembles it; requests reach the scheduler directly, with no loopback gRPC. Scheduler callbacks are
 * handed to a per-request {@link SerialExecutor} on virtual threads, so the scheduler thread never runs gateway code
 * (detokenization, JSON, network writes).
 */
public final class EmbeddedRouter implements RouterClient {
    private final ServingEngine engine;
    private final BatchScheduler scheduler;
    private final ExecutorService callbacks = Executors.newVirtualThreadPerTaskExecutor();

    EmbeddedRouter(ServingEngine engine) {
        this.engine = engine;
        this.scheduler = engine.scheduler();
    }

    /**
     * Loads the checkpoint in {@code dir} with every expert local, sizes the cache, starts the scheduler
     * ({@link ServingEngine#load}) and runs the start-up warm-up ({@link ServingEngine#warmUp}). {@code progress}
     * receives human-readable steps (for the logs).
     */
    public static EmbeddedRouter load(Path dir, ServingSettings settings, Consumer<String> progress) {
        ServingEngine engine = ServingEngine.load(dir, settings, progress);
        try {
            engine.warmUp(progress);
        } catch (RuntimeException | Error e) {
            engine.close();
            throw e;
        }
        return new EmbeddedRouter(engine);
    }

    /** The assembled engine (model, cache, scheduler). */
    public ServingEngine engine() {
        return engine;
    }

    public ModelConfig modelConfig() {
        return engine.model().config();
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
                scheduler.config().contextLimit(), engine.model().config().vocabSize(), "");
    }

    @Override
    public String describe() {
        return "embedded";
    }

    /** Test and metrics access to the cache's block counts. */
    public LatentKvCache cache() {
        return engine.cache();
    }

    @Override
    public void close() {
        engine.close();
        callbacks.close();
    }
}
