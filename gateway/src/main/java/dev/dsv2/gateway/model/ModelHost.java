package dev.dsv2.gateway.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.router.EmbeddedRouter;
import dev.dsv2.gateway.router.GrpcRouterClient;
import dev.dsv2.gateway.router.RouterClient;
import dev.dsv2.tokenizer.HfTokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The served model's lifecycle: {@code LOADING} (in a background thread started at application start, progress in
 * the logs) → {@code READY} or {@code FAILED}. Until it is ready, {@link #served()} refuses requests with
 * UNAVAILABLE / HTTP 503 ("the model is loading"), and readiness is DOWN.
 *
 * <p>Loading: the checkpoint directory (configured, or the generated {@link DemoModel}), its tokenizer and
 * config.json, then the router: in embedded mode the weights are mapped and the scheduler started here; with a
 * remote router only a channel is opened (the router reports its own readiness).
 */
public final class ModelHost implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ModelHost.class.getName());

    public enum State { LOADING, READY, FAILED }

    private final GatewaySettings settings;
    private final CountDownLatch settled = new CountDownLatch(1);
    private final List<Consumer<ServedModel>> readyListeners = new java.util.ArrayList<>();
    private volatile State state = State.LOADING;
    private volatile String progress = "starting";
    private volatile ServedModel served;
    private volatile String failure;
    private volatile boolean closed;

    public ModelHost(GatewaySettings settings) {
        this.settings = settings;
    }

    public GatewaySettings settings() {
        return settings;
    }

    /** Starts loading in a background thread; returns at once. */
    public void startLoading() {
        Thread.ofPlatform().name("dsv2-model-loader").daemon().start(this::load);
    }

    /** Loads on the calling thread (tests, tools). */
    public void load() {
        long t0 = System.nanoTime();
        try {
            Path dir = settings.modelDir().orElseGet(() -> DemoModel.ensure(settings.demoCacheDir(),
                    settings.version(), this::report));
            if (!Files.isDirectory(dir)) {
                throw new IllegalStateException("dsv2.model.dir " + dir + " is not a directory");
            }
            report("loading tokenizer from " + dir);
            HfTokenizer tokenizer = HfTokenizer.load(dir);
            ModelConfig config = ModelConfig.load(dir);
            if (tokenizer.vocabSize() > config.vocabSize()) {
                LOG.warning(() -> "the tokenizer of " + dir + " has " + tokenizer.vocabSize() + " ids but config.json "
                        + "vocab_size is " + config.vocabSize() + ": prompts using the extra ids will be refused");
            }
            int contextLimit = settings.contextLimit().orElse(config.defaultContextLimit());
            RouterClient router;
            if (settings.embedded()) {
                router = EmbeddedRouter.load(dir, new EmbeddedRouter.Options(settings.backend(), settings.threads(),
                        settings.kvCacheTokens(), contextLimit, settings.maxBatchTokens(), settings.maxRunning()),
                        this::report);
            } else {
                report("routing to the router-service at " + settings.router());
                router = new GrpcRouterClient(settings.router());
            }
            String name = settings.modelName().orElse(dir.toAbsolutePath().normalize().getFileName().toString());
            ServedModel model = new ServedModel(name, dir, tokenizer, config, contextLimit,
                    System.currentTimeMillis() / 1000, router);
            if (closed) {
                router.close();
                return;
            }
            List<Consumer<ServedModel>> listeners;
            synchronized (this) {
                served = model;
                state = State.READY;
                listeners = List.copyOf(readyListeners);
                readyListeners.clear();
            }
            LOG.info(() -> String.format("model %s ready in %.1f s (%s router, context limit %d tokens)", name,
                    (System.nanoTime() - t0) / 1e9, router.describe(), contextLimit));
            for (Consumer<ServedModel> listener : listeners) {
                listener.accept(model);
            }
        } catch (Exception | LinkageError e) {
            failure = e.getMessage() == null ? e.toString() : e.getMessage();
            state = State.FAILED;
            LOG.log(Level.SEVERE, "loading the model failed: " + failure, e);
        } finally {
            settled.countDown();
        }
    }

    private void report(String step) {
        progress = step;
        LOG.info(step);
    }

    public State state() {
        return state;
    }

    /** What the host is doing or why it failed, for health checks and error messages. */
    public String describe() {
        return switch (state) {
            case LOADING -> "the model is loading (" + progress + ")";
            case READY -> "model " + served.name() + " ready";
            case FAILED -> "the model failed to load: " + failure;
        };
    }

    /**
     * The served model.
     *
     * @throws ApiError UNAVAILABLE while loading or after a failed load
     */
    public ServedModel served() {
        ServedModel m = served;
        if (m != null) {
            return m;
        }
        throw new ApiError(ApiError.Kind.UNAVAILABLE, null, state == State.LOADING ? ApiError.MODEL_LOADING : null,
                describe() + "; retry when /q/health/ready is UP");
    }

    public Optional<ServedModel> ifReady() {
        return Optional.ofNullable(served);
    }

    /** Runs {@code listener} once the model is ready (at once if it already is). */
    public void onReady(Consumer<ServedModel> listener) {
        ServedModel m;
        synchronized (this) {
            m = served;
            if (m == null) {
                readyListeners.add(listener);
                return;
            }
        }
        listener.accept(m);
    }

    /** Waits until loading succeeded or failed; true when ready. */
    public boolean awaitSettled(Duration timeout) throws InterruptedException {
        return settled.await(timeout.toMillis(), TimeUnit.MILLISECONDS) && state == State.READY;
    }

    @Override
    public void close() {
        closed = true;
        ServedModel m = served;
        if (m != null) {
            m.router().close();
        }
    }
}
