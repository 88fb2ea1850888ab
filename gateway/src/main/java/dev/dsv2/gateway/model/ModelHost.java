package dev.dsv2.gateway.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.serve.ModelLifecycle;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.router.EmbeddedRouter;
import dev.dsv2.gateway.router.GrpcRouterClient;
import dev.dsv2.gateway.router.RouterClient;
import dev.dsv2.proto.tls.InternalTls;
import dev.dsv2.tokenizer.HfTokenizer;
import dev.dsv2.tokenizer.StreamingDetokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * The served model's lifecycle (a {@link ModelLifecycle}): {@code LOADING} (in a background thread started at
 * application start, progress in the logs) → {@code READY} or {@code FAILED}. Until it is ready, {@link #served()}
 * refuses requests with UNAVAILABLE / HTTP 503 ("the model is loading"), and readiness is DOWN.
 *
 * <p>Loading: the checkpoint directory (configured, or the generated {@link DemoModel}), its tokenizer and
 * config.json, then the router: in embedded mode the weights are mapped and the scheduler started here
 * ({@link EmbeddedRouter}, the same assembly as the router-service's); with a remote router only a channel is opened
 * (the router reports its own readiness).
 */
public final class ModelHost implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ModelHost.class.getName());

    public enum State { LOADING, READY, FAILED }

    private final GatewaySettings settings;
    private final Optional<InternalTls> routerTls;
    private final ModelLifecycle<ServedModel> lifecycle = new ModelLifecycle<>("the model", m -> m.router().close());

    /** A host that reaches a remote router over plaintext. */
    public ModelHost(GatewaySettings settings) {
        this(settings, Optional.empty());
    }

    /** @param routerTls mTLS to a remote router ({@code dsv2.internal-tls.*}); unused in embedded mode */
    public ModelHost(GatewaySettings settings, Optional<InternalTls> routerTls) {
        this.settings = settings;
        this.routerTls = routerTls;
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
        lifecycle.load(this::open);
    }

    private ServedModel open() throws IOException {
        long t0 = System.nanoTime();
        Path dir = settings.modelDir().orElseGet(() -> DemoModel.ensure(settings.demoCacheDir(),
                settings.version(), lifecycle::progress));
        if (!Files.isDirectory(dir)) {
            throw new IllegalStateException("dsv2.model.dir " + dir + " is not a directory");
        }
        lifecycle.progress("loading tokenizer from " + dir);
        HfTokenizer tokenizer = HfTokenizer.load(dir);
        if (settings.serving().warmupSteps() > 0) {
            lifecycle.progress("warming up the tokenizer and chat template");
            warmUp(tokenizer);
        }
        ModelConfig config = ModelConfig.load(dir);
        if (tokenizer.vocabSize() > config.vocabSize()) {
            LOG.warning(() -> "the tokenizer of " + dir + " has " + tokenizer.vocabSize() + " ids but config.json "
                    + "vocab_size is " + config.vocabSize() + ": prompts using the extra ids will be refused");
        }
        int contextLimit = settings.serving().contextLimit(config);
        RouterClient router;
        if (settings.embedded()) {
            router = EmbeddedRouter.load(dir, settings.serving(), lifecycle::progress);
        } else {
            lifecycle.progress("routing to the router-service at " + settings.router()
                    + routerTls.map(t -> " over " + t.describe()).orElse(""));
            router = new GrpcRouterClient(settings.router(), routerTls);
        }
        String name = settings.modelName().orElse(dir.toAbsolutePath().normalize().getFileName().toString());
        ServedModel model = new ServedModel(name, dir, tokenizer, config, contextLimit,
                System.currentTimeMillis() / 1000, router);
        LOG.info(() -> String.format("model %s ready in %.1f s (%s router, context limit %d tokens)", name,
                (System.nanoTime() - t0) / 1e9, router.describe(), contextLimit));
        return model;
    }

    /**
     * The tokenizer's first use before the first request's (part of the start-up warm-up, {@code dsv2.warmup-steps}):
     * a one-message chat through the chat template (its first rendering compiles it: 0.56 s of the first request's
     * time to first token with the DeepSeek-V3 template), a plain prompt, and streaming detokenization of the ids. A
     * template that refuses the sample conversation is left to the requests to report.
     */
    static void warmUp(HfTokenizer tokenizer) {
        try {
            int[] ids = tokenizer.encodePrompt("Hello!");
            if (tokenizer.hasChatTemplate()) {
                ids = tokenizer.encodeChatMaps(List.of(Map.of("role", "user", "content", "Hello!")), true);
            }
            StreamingDetokenizer text = tokenizer.newStreamingDetokenizer(true);
            for (int id : ids) {
                text.accept(id);
            }
        } catch (RuntimeException e) {
            LOG.fine(() -> "tokenizer warm-up skipped: " + e);
        }
    }

    public State state() {
        return State.valueOf(lifecycle.state().name());
    }

    /** What the host is doing or why it failed, for health checks and error messages. */
    public String describe() {
        ServedModel m = lifecycle.orNull();
        return m != null ? "model " + m.name() + " ready" : lifecycle.describe();
    }

    /**
     * The served model.
     *
     * @throws ApiError UNAVAILABLE while loading or after a failed load
     */
    public ServedModel served() {
        ServedModel m = lifecycle.orNull();
        if (m != null) {
            return m;
        }
        throw new ApiError(ApiError.Kind.UNAVAILABLE, null,
                lifecycle.state() == ModelLifecycle.State.LOADING ? ApiError.MODEL_LOADING : null,
                describe() + "; retry when /q/health/ready is UP");
    }

    public Optional<ServedModel> ifReady() {
        return lifecycle.ifReady();
    }

    /** Runs {@code listener} once the model is ready (at once if it already is). */
    public void onReady(Consumer<ServedModel> listener) {
        lifecycle.onReady(listener);
    }

    /** Waits until loading succeeded or failed; true when ready. */
    public boolean awaitSettled(Duration timeout) throws InterruptedException {
        return lifecycle.awaitSettled(timeout);
    }

    @Override
    public void close() {
        lifecycle.close();
    }
}
