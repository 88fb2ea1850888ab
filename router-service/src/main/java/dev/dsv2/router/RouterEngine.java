package dev.dsv2.router;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.serve.BatchScheduler;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.ExpertWire;
import dev.dsv2.engine.serve.ModelLifecycle;
import dev.dsv2.engine.serve.ServingEngine;
import dev.dsv2.engine.serve.ServingException;
import dev.dsv2.engine.serve.ServingSettings;
import dev.dsv2.proto.tls.InternalTls;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * The router's serving core, framework-free: a {@link ServingEngine} (the model, everything but the routed experts
 * when shards are configured; the latent KV cache; the continuous-batching scheduler) built from {@link Settings},
 * plus the connection to the expert shards.
 *
 * <p>Lifecycle: {@link #create} reads config.json (bad settings fail here, naming the key) and, with remote experts,
 * starts shard discovery; {@link #load} maps the weights (blocking, typically on a background thread) and runs the
 * start-up warm-up ({@link ServingEngine#warmUp}; with remote experts on a background thread once every shard is
 * known, so the shards warm up too). The engine is {@link #ready()} once the model is loaded, warmed up and, with
 * remote experts, every shard is known; until the model is loaded and the shards known {@link #scheduler()} refuses
 * with UNAVAILABLE saying what is missing (requests during the warm-up are served, cold).
 *
 * <p>KV cache size and scheduler limits: {@link ServingEngine}'s policy, the same as the gateway's embedded router.
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
     * The router's keys: the shared serving keys ({@link ServingSettings}, among them {@code dsv2.expert-wire}) and
     * the router's own.
     *
     * @param experts       {@code dsv2.router.experts}: every expert pod, empty for all experts in-process
     * @param expertTimeout {@code dsv2.router.expert-timeout}: deadline of one shard call
     * @param internalTls   {@code dsv2.internal-tls.*}: mTLS to the expert shards, empty for plaintext
     */
    public record Settings(Path modelDir, ServingSettings serving, List<String> experts, SharedExperts sharedExperts,
                           Duration expertTimeout, Optional<InternalTls> internalTls) {
        /** Plaintext to the shards. */
        public Settings(Path modelDir, ServingSettings serving, List<String> experts, SharedExperts sharedExperts,
                        Duration expertTimeout) {
            this(modelDir, serving, experts, sharedExperts, expertTimeout, Optional.empty());
        }

        public Settings {
            internalTls = internalTls == null ? Optional.empty() : internalTls;
            experts = experts == null ? List.of() : List.copyOf(experts);
            if (expertTimeout.isNegative() || expertTimeout.isZero()) {
                throw new IllegalArgumentException("dsv2.router.expert-timeout must be positive, got " + expertTimeout);
            }
        }

        /** Everything in-process with the contract's defaults. */
        public static Settings local(Path modelDir, int threads) {
            return new Settings(modelDir, ServingSettings.defaults().withThreads(threads), List.of(),
                    SharedExperts.LOCAL, Duration.ofSeconds(30));
        }

        /** Remote experts at {@code e}, activations on the wire as {@code wire}. */
        public Settings withExperts(List<String> e, SharedExperts shared, ExpertWire wire) {
            return new Settings(modelDir, serving.withExpertWire(wire), e, shared, expertTimeout, internalTls);
        }

        public Settings withCache(int kvTokens, int limit) {
            return new Settings(modelDir, serving.withKvCacheTokens(kvTokens).withContextLimit(limit), experts,
                    sharedExperts, expertTimeout, internalTls);
        }
    }

    private final Settings settings;
    private final ModelConfig config;
    private final String modelName;
    private final int contextLimit;
    private final RemoteExperts remote;
    private final ModelLifecycle<Loaded> lifecycle;
    private volatile BatchScheduler.StepObserver stepObserver = (rows, decode, seqs, nanos) -> { };
    /** The start-up warm-up has ended (or was not asked for). */
    private volatile boolean warmedUp;
    private final CountDownLatch warmUpEnded = new CountDownLatch(1);
    private volatile boolean closed;

    /** What exists once the weights are in. */
    record Loaded(ServingEngine engine, CountingExperts counting) {
    }

    private RouterEngine(Settings settings, ModelConfig config, RemoteExperts remote) {
        this.settings = settings;
        this.config = config;
        this.modelName = settings.modelDir().getFileName().toString();
        this.remote = remote;
        this.contextLimit = settings.serving().contextLimit(config);
        this.lifecycle = new ModelLifecycle<>("the router model", l -> l.engine().close());
    }

    /**
     * Reads config.json, checks the context limit against it and, when {@code settings.experts()} is not empty,
     * connects to the shards (discovery runs in the background). The kernel backend is opened by {@link #load}.
     */
    public static RouterEngine create(Settings settings, RemoteExperts.CallObserver calls) {
        ModelConfig config = ModelConfig.load(settings.modelDir());
        RemoteExperts remote = null;
        try {
            if (!settings.experts().isEmpty()) {
                RemoteExperts.Options opts = RemoteExperts.Options.defaults().withWire(settings.serving().expertWire())
                        .withTimeout(settings.expertTimeout())
                        .withSharedOnShards(settings.sharedExperts() == SharedExperts.SHARDS)
                        .withInternalTls(settings.internalTls());
                remote = RemoteExperts.connect(config, settings.experts(), opts, calls);
            }
            return new RouterEngine(settings, config, remote);
        } catch (RuntimeException e) {
            if (remote != null) {
                remote.close();
            }
            throw e;
        }
    }

    /**
     * Called for every scheduler step after the start-up warm-up (whose generated steps stay out of the metrics, as
     * in the embedded gateway), also when set before {@link #load}.
     */
    public void setStepObserver(BatchScheduler.StepObserver observer) {
        this.stepObserver = observer;
    }

    /**
     * Maps the weights and starts the scheduler (blocking). A failure is kept ({@link #failure()}) and logged, not
     * thrown: the process stays up to report it through health. Each progress line is logged and shown by health
     * while loading (mapping, prefaulting the weights the router serves), then passed to {@code progress} (may be null).
     */
    public void load(Consumer<String> progress) {
        Consumer<String> report = lifecycle.reporting(progress);
        lifecycle.load(() -> {
            long t0 = System.nanoTime();
            CountingExperts[] counting = new CountingExperts[1];
            ServingEngine engine;
            if (remote != null) {
                int layers = config.numHiddenLayers();
                int experts = config.nRoutedExperts();
                boolean localShared = settings.sharedExperts() == SharedExperts.LOCAL;
                engine = ServingEngine.load(settings.modelDir(), settings.serving(), (dir, backend, weights, p) ->
                        DeepseekV2Model.load(dir, backend, weights, p,
                                ckpt -> counting[0] = new CountingExperts(remote, layers, experts), localShared),
                        report);
            } else {
                // The plain loader: the model then knows its experts are in-process (no micro-batch split).
                engine = ServingEngine.load(settings.modelDir(), settings.serving(), report);
            }
            engine.scheduler().setStepObserver((rows, decode, seqs, nanos) -> {
                if (warmedUp) {
                    stepObserver.onStep(rows, decode, seqs, nanos);
                }
            });
            LOG.info(String.format("router loaded %s in %.1f s: backend %s, experts %s, shared experts %s, KV cache %s,"
                            + " context limit %d", modelName, (System.nanoTime() - t0) / 1e9, engine.backend().name(),
                    remote == null ? "in-process" : "remote (" + settings.experts().size() + " pods, "
                            + settings.serving().expertWire() + " on the wire)",
                    settings.sharedExperts().name().toLowerCase(Locale.ROOT), engine.describeCache(),
                    engine.contextLimit()));
            return new Loaded(engine, counting[0]);
        });
        Loaded l = lifecycle.orNull();
        if (l == null) {
            return;
        }
        if (remote == null) {
            warmUp(l.engine(), report);
        } else {
            Thread.ofPlatform().name("dsv2-router-warmup").daemon().start(() -> {
                try {
                    while (!remote.ready() && !closed) {
                        Thread.sleep(100);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                if (!closed) {
                    warmUp(l.engine(), report);
                }
            });
        }
    }

    /** The engine's warm-up; readiness follows its end, also when it stopped early (then logged as a warning). */
    private void warmUp(ServingEngine engine, Consumer<String> report) {
        try {
            engine.warmUp(report);
        } catch (RuntimeException e) {
            LOG.warning(() -> "start-up warm-up failed: " + e + "; the first requests run cold");
        } finally {
            warmedUp = true;
            warmUpEnded.countDown();
        }
    }

    /**
     * Waits up to {@code timeout} for {@link #ready()}: the model loaded, its start-up warm-up ended and, with remote
     * experts, every shard known. False when it is not ready by then (e.g. it failed to load).
     */
    public boolean awaitReady(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        if (!warmUpEnded.await(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
            return false;
        }
        while (!ready() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        return ready();
    }

    public boolean modelLoaded() {
        return lifecycle.ready();
    }

    /** Model loaded and warmed up and, with remote experts, every shard known. */
    public boolean ready() {
        return lifecycle.ready() && warmedUp && (remote == null || remote.ready());
    }

    /** Why loading failed, or null. */
    public String failure() {
        return lifecycle.failure();
    }

    /** A one-line state for health checks and refusals. */
    public String state() {
        String model = lifecycle.ready() ? (warmedUp ? "model loaded" : "model loaded, warming up")
                : lifecycle.failure() != null
                ? "model failed to load: " + lifecycle.failure() : "model loading";
        return remote == null ? model + "; experts in-process" : model + "; " + remote.status();
    }

    /** The scheduler, or UNAVAILABLE saying what is not ready yet. */
    public BatchScheduler scheduler() {
        Loaded l = lifecycle.orNull();
        if (l == null || (remote != null && !remote.ready())) {
            throw new ServingException(ErrorKind.UNAVAILABLE, "the router is not ready: " + state());
        }
        return l.engine().scheduler();
    }

    /** The scheduler when loaded (even while shards are missing), else null; for metrics and Status. */
    public BatchScheduler schedulerOrNull() {
        Loaded l = lifecycle.orNull();
        return l == null ? null : l.engine().scheduler();
    }

    /** The serving engine once loaded, else null. */
    public ServingEngine servingOrNull() {
        Loaded l = lifecycle.orNull();
        return l == null ? null : l.engine();
    }

    /** Routed-token counts per (layer, expert) with remote experts, else (or before loading) null. */
    CountingExperts routedCounts() {
        Loaded l = lifecycle.orNull();
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
        closed = true;
        lifecycle.close();
        if (remote != null) {
            remote.close();
        }
    }
}
