package dev.dsv2.engine.serve;

import dev.dsv2.engine.device.DeviceChoice;
import dev.dsv2.engine.device.DeviceRequest;
import dev.dsv2.engine.device.DeviceSelector;
import dev.dsv2.engine.device.ModelParityProbe;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Backends;
import dev.dsv2.engine.kernel.CpuKernels;
import dev.dsv2.engine.model.WeightFormat;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.function.Function;

/**
 * The serving keys every deployment mode shares (embedded gateway, router-service, expert-service, CLI), parsed in
 * one place with one meaning. Each key is also an environment variable (Quarkus style: {@code dsv2.kv-cache.tokens}
 * = {@code DSV2_KV_CACHE_TOKENS}); a bad value is refused naming the key, the variable, the value and what is
 * accepted.
 *
 * <table>
 *   <caption>keys</caption>
 *   <tr><th>key</th><th>unset (or 0 for the numbers marked *)</th><th>accepted</th></tr>
 *   <tr><td>{@code dsv2.backend}</td><td>auto</td><td>auto, cpu, vector, scalar</td></tr>
 *   <tr><td>{@code dsv2.threads} *</td><td>available processors</td><td>&gt;= 1</td></tr>
 *   <tr><td>{@code dsv2.device}</td><td>auto</td><td>auto, cpu, cuda, cuda:N</td></tr>
 *   <tr><td>{@code dsv2.weights}</td><td>bf16</td><td>bf16, int8</td></tr>
 *   <tr><td>{@code dsv2.kv-cache.tokens} *</td><td>{@link ServingEngine}'s sizing policy</td><td>&gt;= 1</td></tr>
 *   <tr><td>{@code dsv2.context-limit} *</td><td>min(max_position_embeddings, 32768)</td>
 *       <td>[2, max_position_embeddings]</td></tr>
 *   <tr><td>{@code dsv2.max-batch-tokens}</td><td>512</td><td>&gt;= 1: rows per scheduler step</td></tr>
 *   <tr><td>{@code dsv2.max-running}</td><td>256</td><td>&gt;= 1: sequences decoding at once</td></tr>
 *   <tr><td>{@code dsv2.max-waiting}</td><td>4096</td><td>&gt;= 0: queued requests before RESOURCE_EXHAUSTED</td></tr>
 *   <tr><td>{@code dsv2.expert-wire}</td><td>bf16</td><td>bf16, f32: activations between router and expert
 *       shards ({@link ExpertWire})</td></tr>
 *   <tr><td>{@code dsv2.gpu-memory-fraction}</td><td>0.90</td><td>(0, 1]: the share of a CUDA device's memory
 *       the process may use; sizes the latent cache in device memory ({@link DeviceMemoryPlan})</td></tr>
 *   <tr><td>{@code dsv2.cpu-kernels}</td><td>auto</td><td>auto, java, native: int8 and bf16 matrix products on
 *       the bundled library (AVX512-VNNI, activations rounded to int8 per block of 32; AVX512_BF16, activations
 *       rounded to bf16 once per product), or on the Java kernels (bit-exact); auto: int8 native where it can run,
 *       bf16 Java ({@link CpuKernels})</td></tr>
 *   <tr><td>{@code dsv2.micro-batches}</td><td>auto</td><td>auto, 1, 2: with remote experts, whether a step runs
 *       as two overlapped micro-batches (measured per kind of step, never, always; {@link MicroBatches})</td></tr>
 *   <tr><td>{@code dsv2.warmup-steps}</td><td>32</td><td>&gt;= 0: tokens per request of the start-up warm-up run
 *       before the service reports ready ({@link StartupWarmup}; the gateway's tokenizer and chat template too);
 *       0 = none</td></tr>
 * </table>
 * "0 = the default" for the starred keys matches the Helm values, where 0 stands for "not set".
 *
 * @param threads      kernel threads, resolved (never 0)
 * @param kvCacheTokens empty: {@link ServingEngine#defaultCacheTokens}
 * @param contextLimit  empty: the model's default; checked against the model by {@link #contextLimit(ModelConfig)}
 */
public record ServingSettings(String backend, int threads, DeviceRequest device, WeightFormat weights,
                              OptionalInt kvCacheTokens, OptionalInt contextLimit, int maxBatchTokens, int maxRunning,
                              int maxWaiting, ExpertWire expertWire, double gpuMemoryFraction,
                              CpuKernels cpuKernels, MicroBatches microBatches, int warmupSteps) {
    public static final String BACKEND = "dsv2.backend";
    public static final String THREADS = "dsv2.threads";
    public static final String DEVICE = "dsv2.device";
    public static final String WEIGHTS = "dsv2.weights";
    public static final String KV_CACHE_TOKENS = "dsv2.kv-cache.tokens";
    public static final String CONTEXT_LIMIT = "dsv2.context-limit";
    public static final String MAX_BATCH_TOKENS = "dsv2.max-batch-tokens";
    public static final String MAX_RUNNING = "dsv2.max-running";
    public static final String MAX_WAITING = "dsv2.max-waiting";
    public static final String EXPERT_WIRE = "dsv2.expert-wire";
    public static final String GPU_MEMORY_FRACTION = "dsv2.gpu-memory-fraction";
    public static final double DEFAULT_GPU_MEMORY_FRACTION = 0.90;
    public static final String CPU_KERNELS = "dsv2.cpu-kernels";
    public static final String MICRO_BATCHES = "dsv2.micro-batches";
    public static final String WARMUP_STEPS = "dsv2.warmup-steps";
    /** Enough for the JIT to compile the decode and prefill paths (the first request after start ran 3.4x slower). */
    public static final int DEFAULT_WARMUP_STEPS = 32;

    public static final int DEFAULT_MAX_BATCH_TOKENS = 512;
    public static final int DEFAULT_MAX_RUNNING = 256;
    public static final int DEFAULT_MAX_WAITING = 4096;

    public ServingSettings {
        backend = parseBackend(backend);
        atLeast(THREADS, threads, 1);
        if (device == null || weights == null || expertWire == null || cpuKernels == null || microBatches == null) {
            throw new IllegalArgumentException(DEVICE + ", " + WEIGHTS + ", " + EXPERT_WIRE + ", " + CPU_KERNELS
                    + " and " + MICRO_BATCHES + " must be set (use DeviceRequest.AUTO, WeightFormat.BF16, "
                    + "ExpertWire.BF16, CpuKernels.AUTO and MicroBatches.AUTO for the defaults)");
        }
        kvCacheTokens.ifPresent(t -> atLeast(KV_CACHE_TOKENS, t, 1));
        contextLimit.ifPresent(t -> atLeast(CONTEXT_LIMIT, t, 2));
        atLeast(MAX_BATCH_TOKENS, maxBatchTokens, 1);
        atLeast(MAX_RUNNING, maxRunning, 1);
        atLeast(MAX_WAITING, maxWaiting, 0);
        atLeast(WARMUP_STEPS, warmupSteps, 0);
        DeviceMemoryPlan.validateFraction(gpuMemoryFraction);
    }

    /**
     * Settings with {@code dsv2.gpu-memory-fraction}, {@code dsv2.cpu-kernels}, {@code dsv2.micro-batches} and
     * {@code dsv2.warmup-steps} at their defaults ({@link #DEFAULT_GPU_MEMORY_FRACTION}, {@link CpuKernels#AUTO},
     * {@link MicroBatches#AUTO}, {@link #DEFAULT_WARMUP_STEPS}).
     */
    public ServingSettings(String backend, int threads, DeviceRequest device, WeightFormat weights,
                           OptionalInt kvCacheTokens, OptionalInt contextLimit, int maxBatchTokens, int maxRunning,
                           int maxWaiting, ExpertWire expertWire) {
        this(backend, threads, device, weights, kvCacheTokens, contextLimit, maxBatchTokens, maxRunning, maxWaiting,
                expertWire, DEFAULT_GPU_MEMORY_FRACTION, CpuKernels.AUTO, MicroBatches.AUTO, DEFAULT_WARMUP_STEPS);
    }

    /** Every key at its default; threads = this machine's processors. */
    public static ServingSettings defaults() {
        return parse(key -> Optional.empty());
    }

    /**
     * Parses the keys from {@code lookup} (key -> raw value; a Quarkus service passes its MicroProfile Config).
     *
     * @throws IllegalArgumentException naming the first bad key, its environment variable and the value
     */
    public static ServingSettings parse(Function<String, Optional<String>> lookup) {
        Function<String, Optional<String>> raw = key -> lookup.apply(key).map(String::trim).filter(v -> !v.isEmpty());
        String backend = raw.apply(BACKEND).orElse("auto");
        OptionalInt threads = zeroIsUnset(THREADS, raw, 1);
        DeviceRequest device = parseWith(DEVICE, raw, DeviceRequest::parse, DeviceRequest.AUTO);
        WeightFormat weights = parseWith(WEIGHTS, raw, WeightFormat::parse, WeightFormat.BF16);
        OptionalInt kvTokens = zeroIsUnset(KV_CACHE_TOKENS, raw, 1);
        OptionalInt limit = zeroIsUnset(CONTEXT_LIMIT, raw, 2);
        int batchTokens = integer(MAX_BATCH_TOKENS, raw).orElse(DEFAULT_MAX_BATCH_TOKENS);
        int running = integer(MAX_RUNNING, raw).orElse(DEFAULT_MAX_RUNNING);
        int waiting = integer(MAX_WAITING, raw).orElse(DEFAULT_MAX_WAITING);
        ExpertWire wire = parseWith(EXPERT_WIRE, raw, ExpertWire::parse, ExpertWire.BF16);
        double fraction = parseWith(GPU_MEMORY_FRACTION, raw, ServingSettings::parseFraction,
                DEFAULT_GPU_MEMORY_FRACTION);
        CpuKernels kernels = parseWith(CPU_KERNELS, raw, CpuKernels::parse, CpuKernels.AUTO);
        MicroBatches split = parseWith(MICRO_BATCHES, raw, MicroBatches::parse, MicroBatches.AUTO);
        int warmup = integer(WARMUP_STEPS, raw).orElse(DEFAULT_WARMUP_STEPS);
        return new ServingSettings(backend, threads.orElse(Runtime.getRuntime().availableProcessors()), device,
                weights, kvTokens, limit, batchTokens, running, waiting, wire, fraction, kernels, split, warmup);
    }

    /** The keys from JVM system properties ({@code -Ddsv2.threads=4}), else environment variables (CLI tools). */
    public static ServingSettings fromSystem() {
        return parse(key -> Optional.ofNullable(System.getProperty(key))
                .or(() -> Optional.ofNullable(System.getenv(envName(key)))));
    }

    /** {@code dsv2.kv-cache.tokens} -> {@code DSV2_KV_CACHE_TOKENS}. */
    public static String envName(String key) {
        return key.toUpperCase(Locale.ROOT).replaceAll("[^A-Z0-9]", "_");
    }

    /** "dsv2.threads (DSV2_THREADS)": how messages name a key. */
    public static String describeKey(String key) {
        return key + " (" + envName(key) + ")";
    }

    /**
     * The context limit for {@code config}: configured, else {@link ModelConfig#defaultContextLimit()}.
     *
     * @throws IllegalArgumentException when the configured limit exceeds the model's max_position_embeddings
     */
    public int contextLimit(ModelConfig config) {
        int limit = contextLimit.orElse(config.defaultContextLimit());
        if (limit < 2 || limit > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException(describeKey(CONTEXT_LIMIT) + " " + limit + " must be in [2, "
                    + config.maxPositionEmbeddings() + "] (max_position_embeddings of the model)");
        }
        return limit;
    }

    /**
     * Opens the CPU kernel backend these settings ask for: the one place a service or tool turns settings into CPU
     * kernels ({@link #createBackend(DeviceChoice)} for the model's backend after {@link #selectDevice}).
     */
    public Backend createBackend() {
        return Backends.create(backend, threads, cpuKernels);
    }

    /** The backend the model runs on: the checked device backend {@code choice} carries, else the CPU's. */
    public Backend createBackend(DeviceChoice choice) {
        return choice.backend() != null ? choice.backend() : createBackend();
    }

    /**
     * Applies {@code dsv2.device} ({@link DeviceSelector}, the one device decision of every mode) for the model in
     * {@code modelDir}: the CPU for {@code cpu}; for {@code cuda[:N]} the kernel self-check and the model parity
     * probe ({@link ModelParityProbe}, against this CPU backend) before the device is chosen; {@code auto} takes the
     * device when both pass, else the CPU with the reason.
     *
     * @throws dev.dsv2.engine.device.DeviceUnavailableException for a {@code cuda} request that cannot run
     */
    public DeviceChoice selectDevice(Path modelDir) {
        return DeviceSelector.fromClassPath().select(device, () -> ModelConfig.load(modelDir),
                new ModelParityProbe(modelDir, weights, this::createBackend));
    }

    /** The scheduler's configuration for a resolved context limit. */
    public BatchScheduler.Config schedulerConfig(int resolvedContextLimit) {
        return new BatchScheduler.Config(maxBatchTokens, maxRunning, maxWaiting, resolvedContextLimit, microBatches);
    }

    public ServingSettings withBackend(String b) {
        return new ServingSettings(b, threads, device, weights, kvCacheTokens, contextLimit, maxBatchTokens,
                maxRunning, maxWaiting, expertWire, gpuMemoryFraction, cpuKernels, microBatches, warmupSteps);
    }

    public ServingSettings withDevice(DeviceRequest d) {
        return new ServingSettings(backend, threads, d, weights, kvCacheTokens, contextLimit, maxBatchTokens,
                maxRunning, maxWaiting, expertWire, gpuMemoryFraction, cpuKernels, microBatches, warmupSteps);
    }

    public ServingSettings withWeights(WeightFormat w) {
        return new ServingSettings(backend, threads, device, w, kvCacheTokens, contextLimit, maxBatchTokens,
                maxRunning, maxWaiting, expertWire, gpuMemoryFraction, cpuKernels, microBatches, warmupSteps);
    }

    public ServingSettings withThreads(int t) {
        return new ServingSettings(backend, t, device, weights, kvCacheTokens, contextLimit, maxBatchTokens,
                maxRunning, maxWaiting, expertWire, gpuMemoryFraction, cpuKernels, microBatches, warmupSteps);
    }

    public ServingSettings withKvCacheTokens(int tokens) {
        return new ServingSettings(backend, threads, device, weights, OptionalInt.of(tokens), contextLimit,
                maxBatchTokens, maxRunning, maxWaiting, expertWire, gpuMemoryFraction, cpuKernels, microBatches, warmupSteps);
    }

    public ServingSettings withContextLimit(int limit) {
        return new ServingSettings(backend, threads, device, weights, kvCacheTokens, OptionalInt.of(limit),
                maxBatchTokens, maxRunning, maxWaiting, expertWire, gpuMemoryFraction, cpuKernels, microBatches, warmupSteps);
    }

    public ServingSettings withBatchLimits(int batchTokens, int running) {
        return new ServingSettings(backend, threads, device, weights, kvCacheTokens, contextLimit, batchTokens,
                running, maxWaiting, expertWire, gpuMemoryFraction, cpuKernels, microBatches, warmupSteps);
    }

    public ServingSettings withExpertWire(ExpertWire w) {
        return new ServingSettings(backend, threads, device, weights, kvCacheTokens, contextLimit, maxBatchTokens,
                maxRunning, maxWaiting, w, gpuMemoryFraction, cpuKernels, microBatches, warmupSteps);
    }

    private static double parseFraction(String value) {
        try {
            return DeviceMemoryPlan.validateFraction(Double.parseDouble(value));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + value + "' is not a number in (0, 1]");
        }
    }

    public ServingSettings withWarmupSteps(int steps) {
        return new ServingSettings(backend, threads, device, weights, kvCacheTokens, contextLimit, maxBatchTokens,
                maxRunning, maxWaiting, expertWire, gpuMemoryFraction, cpuKernels, microBatches, steps);
    }

    public ServingSettings withCpuKernels(CpuKernels k) {
        return new ServingSettings(backend, threads, device, weights, kvCacheTokens, contextLimit, maxBatchTokens,
                maxRunning, maxWaiting, expertWire, gpuMemoryFraction, k, microBatches, warmupSteps);
    }

    private static String parseBackend(String value) {
        try {
            return Backends.canonicalName(value);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(describeKey(BACKEND) + ": " + e.getMessage(), e);
        }
    }

    private static <T> T parseWith(String key, Function<String, Optional<String>> raw, Function<String, T> parser,
                                   T fallback) {
        Optional<String> v = raw.apply(key);
        if (v.isEmpty()) {
            return fallback;
        }
        try {
            return parser.apply(v.get());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(describeKey(key) + ": " + e.getMessage(), e);
        }
    }

    private static OptionalInt integer(String key, Function<String, Optional<String>> raw) {
        Optional<String> v = raw.apply(key);
        if (v.isEmpty()) {
            return OptionalInt.empty();
        }
        try {
            return OptionalInt.of(Integer.parseInt(v.get()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(describeKey(key) + " must be an integer, got '" + v.get() + "'");
        }
    }

    /** An integer key where unset and 0 both mean "the default"; otherwise at least {@code min}. */
    private static OptionalInt zeroIsUnset(String key, Function<String, Optional<String>> raw, int min) {
        OptionalInt v = integer(key, raw);
        if (v.isEmpty() || v.getAsInt() == 0) {
            return OptionalInt.empty();
        }
        if (v.getAsInt() < min) {
            throw new IllegalArgumentException(describeKey(key) + " must be >= " + min + ", got " + v.getAsInt()
                    + " (0 or unset = the default)");
        }
        return v;
    }

    private static void atLeast(String key, int value, int min) {
        if (value < min) {
            throw new IllegalArgumentException(describeKey(key) + " must be >= " + min + ", got " + value);
        }
    }
}
