package dev.dsv2.cli;

import dev.dsv2.engine.cache.CacheSequence;
import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.device.DeviceChoice;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.cpu.Roofline;
import dev.dsv2.engine.model.AttentionMode;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.model.ForwardBatch;
import dev.dsv2.engine.model.ForwardProfile;
import dev.dsv2.engine.model.WeightFormat;
import dev.dsv2.engine.model.Workspace;
import dev.dsv2.engine.sample.Sampler;
import dev.dsv2.engine.sample.SamplingParams;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.Callable;

/**
 * {@code ./dsv2 bench --model DIR | --preset lite-layers:N [--json]}: decode and prefill throughput of the CPU engine
 * next to the machine's own roofline measured in the same run (memory read bandwidth, peak FMA throughput), so the
 * figures read as ratios: how close decode streams weights to the memory bandwidth, how close prefill computes to
 * the FMA peak.
 *
 * <p>Decode: {@code B} sequences step together from position 0 (random first tokens, then each row samples its next
 * token at temperature 1 with its own seed; every batch size is first decoded untimed for {@code --warmup-seconds}),
 * a few warm-up steps, then timed steps for at least
 * {@code --min-seconds}. Bytes streamed per step = the weights every step reads (attention, norms, gates, shared
 * experts, dense MLPs, lm_head) + the distinct routed experts the step's rows selected, counted per MoE layer.
 * Figures use the median step (tokens/s = batch / median step time; weight GB/s = median over steps of bytes / time),
 * which a busy shared machine disturbs less than the mean; memory bandwidth and FMA peak are the best of 5 passes,
 * bandwidth measured before and after the model runs.
 * Prefill: one sequence of {@code --prefill-tokens} random tokens in one forward pass (logits of the last row only),
 * best of two; its flops are counted from the model's dimensions (matmuls of the active parameters, the kv_b expansion
 * of the context and the causal attention scores and sums).
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmark decode and prefill against this machine's memory bandwidth and FMA peak, "
                + "measured in the same run (host figures: with --device cuda the roofline is still the CPU's).")
public final class BenchCommand implements Callable<Integer> {

    @Option(names = "--model", paramLabel = "DIR", description = "Checkpoint directory to benchmark.")
    Path model;

    @Option(names = "--preset", paramLabel = "NAME",
            description = "Random checkpoint preset to benchmark when no --model: lite-layers:N (V2-Lite's real "
                    + "dims, N layers; default lite-layers:4), written once to the cache directory.")
    String preset;

    @Option(names = "--json", description = "Print one JSON object instead of the table.")
    boolean json;

    @Mixin
    WeightsOption weights;

    @Mixin
    CpuKernelsOption cpuKernels;

    @Option(names = "--batches", split = ",", defaultValue = "1,4,16,64", paramLabel = "B,..",
            description = "Decode batch sizes (default ${DEFAULT-VALUE}).")
    int[] batches;

    @Option(names = "--prefill-tokens", defaultValue = "512", description = "Prompt length (default ${DEFAULT-VALUE}).")
    int prefillTokens;

    @Option(names = "--warmup-seconds", defaultValue = "2", paramLabel = "S",
            description = "Untimed decode seconds per batch size before anything is measured (default "
                    + "${DEFAULT-VALUE}): every measured batch size, and 1, 4 and 16, runs first so that the JIT has "
                    + "compiled every path the timed steps take.")
    double warmupSeconds;

    @Option(names = "--min-seconds", defaultValue = "2", description = "Timed seconds per decode batch size at least "
            + "(default ${DEFAULT-VALUE}).")
    double minSeconds;

    @Option(names = "--cache-dir", paramLabel = "DIR",
            description = "Where preset checkpoints are kept (default ~/.cache/dsv2).")
    Path cacheDir;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the prompts and sampling (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--roofline-mib", defaultValue = "1024", paramLabel = "MIB",
            description = "Buffer of the memory bandwidth measurement, far larger than the caches (default ${DEFAULT-VALUE}).")
    int rooflineMib;

    @Mixin
    DeviceOption device;

    private static final int WARMUP_STEPS = 3;
    /** Heap bytes allocated by all threads (the kernel workers too) during the timed decode steps. */
    private static final com.sun.management.ThreadMXBean ALLOCATION =
            (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    private static final int MIN_TIMED_STEPS = 5;
    private static final int MAX_CONTEXT = 128;

    @Override
    public Integer call() {
        if (model != null && preset != null) {
            throw new IllegalArgumentException("give either --model or --preset, not both");
        }
        for (int b : batches) {
            if (b < 1) {
                throw new IllegalArgumentException("--batches: batch sizes must be >= 1, got " + b);
            }
        }
        if (prefillTokens < 1) {
            throw new IllegalArgumentException("--prefill-tokens must be >= 1, got " + prefillTokens);
        }
        if (!(warmupSeconds >= 0)) {
            throw new IllegalArgumentException("--warmup-seconds must be >= 0, got " + warmupSeconds);
        }
        WeightFormat format = weights.format;
        String source = model != null ? model.toString() : (preset == null ? "lite-layers:4" : preset);
        Path dir = model != null ? model : presetDir(source);
        DeviceChoice choice = device.select(dir, format);

        Backend backend = cpuKernels.settings().createBackend(choice);
        int threads = backend.threads();
        progress("backend " + backend.name());
        double bandwidth = measureBandwidth(threads);
        progress("measuring peak FMA throughput (" + threads + " threads)");
        double peakFlops0 = Roofline.peakFmaFlops(threads, 5, 0.2);
        double peakFlops = peakFlops0;
        progress(String.format("  %.1f GFLOP/s", peakFlops0 / 1e9));
        ProcessMemory.resetPeak();

        List<Double> samples = new ArrayList<>();
        BenchReport report;
        try (DeepseekV2Model m = DeepseekV2Model.load(dir, backend, format, line -> progress("load: " + line))) {
            report = new BenchReport(source, backend.name(), threads, m.weightFormat().label());
            ModelConfig c = m.config();
            int maxBatch = 1;
            for (int b : batches) {
                maxBatch = Math.max(maxBatch, b);
            }
            int cacheTokens = Math.max(prefillTokens, 128) + maxBatch * MAX_CONTEXT;
            LatentKvCache cache = LatentKvCache.forTokens(c, cacheTokens, backend);
            Workspace ws = new Workspace(backend);
            SplittableRandom rnd = new SplittableRandom(seed);

            // Every batch size the run measures is decoded first: a path only one matrix takes (an int8 checkpoint's
            // bf16 MoE gate on the Java kernels, say) is called a few times per step and reaches C2 only after a few
            // hundred calls; measured cold, it added 2-11 ms per step (the gate phase of lite-layers:4 int8 at batch 1:
            // 3.1 ms in the first round, 0.08 ms after the other batch sizes had run).
            progress("warming up (JIT): prefill, then " + warmupSeconds + " s of decode per batch size");
            prefill(m, cache, ws, Math.min(prefillTokens, 128), rnd);
            TreeSet<Integer> warm = new TreeSet<>(List.of(1, Math.min(4, maxBatch),
                    Math.min(16, maxBatch)));
            for (int b : batches) {
                warm.add(b);
            }
            for (int b : warm) {
                decode(m, cache, ws, b, warmupSeconds, rnd, null);
            }

            // Each prefill is paired with a peak-FMA measurement right before it (the cores this VM gets can change
            // within a run); the reported pair is the one with the median ratio of the three.
            progress("prefill of " + prefillTokens + " tokens (3 runs, each after a peak-FMA measurement)");
            double flops = prefillFlops(c, prefillTokens);
            BenchReport.Prefill[] runs = new BenchReport.Prefill[3];
            double[] peaks = new double[3];
            Integer[] order = {0, 1, 2};
            for (int rep = 0; rep < 3; rep++) {
                peaks[rep] = Roofline.peakFmaFlops(threads, 3, 0.1);
                runs[rep] = prefill(m, cache, ws, prefillTokens, rnd);
                progress(String.format("  %.1f tok/s, %.1f GFLOP/s (peak FMA just before: %.1f GFLOP/s)",
                        runs[rep].tokensPerSecond(), flops / runs[rep].seconds() / 1e9, peaks[rep] / 1e9));
            }
            java.util.Arrays.sort(order, java.util.Comparator.comparingDouble(i -> flops / runs[i].seconds() / peaks[i]));
            int mid = order[1];
            peakFlops = peaks[mid];
            report.prefill(runs[mid], flops / runs[mid].seconds());
            report.peakSamples(peakFlops0, java.util.Arrays.stream(peaks).boxed().toList());

            long peakRss = ProcessMemory.peakRssBytes();
            for (int b : batches) {
                progress("decode at batch " + b + (b == 1 ? " (memory bandwidth measured between rounds)" : ""));
                BenchReport.Decode d;
                if (b == 1) {
                    // The bandwidth probe's buffer is resident meanwhile: keep it out of the peak RSS.
                    peakRss = Math.max(peakRss, ProcessMemory.peakRssBytes());
                    try (Roofline.ReadProbe probe = new Roofline.ReadProbe((long) rooflineMib << 20, threads)) {
                        d = decode(m, cache, ws, b, minSeconds, rnd, () -> samples.add(probe.measure(2)));
                    }
                    ProcessMemory.resetPeak();
                } else {
                    d = decode(m, cache, ws, b, minSeconds, rnd, null);
                }
                progress(String.format("  %.1f tok/s, %.1f GB/s of weights, %.1f routed experts per MoE layer",
                        d.tokensPerSecond(), d.weightBytesPerSecond() / 1e9, d.expertsPerLayer()));
                report.decode(d);
            }
            report.memory(Math.max(peakRss, ProcessMemory.peakRssBytes()), ProcessMemory.rssAnonBytes(),
                    ProcessMemory.rssFileBytes());
        }
        backend.close();
        double before = bandwidth;
        double after = measureBandwidth(threads);
        if (samples.isEmpty()) {
            report.roofline(Math.max(before, after), peakFlops);
        } else {
            progress("memory read bandwidth between batch-1 decode rounds: " + BenchReport.gigaText(samples) + " GB/s");
            report.roofline(median(samples.stream().mapToDouble(Double::doubleValue).toArray()), peakFlops);
        }
        report.bandwidthSamples(samples, before, after);
        System.out.print(json ? report.toJson() : report.toTable());
        System.out.flush();
        return 0;
    }

    /** Best-of-5 read bandwidth; the run takes the higher of its two measurements (before and after the model). */
    private double measureBandwidth(int threads) {
        progress("measuring memory read bandwidth (" + rooflineMib + " MiB, " + threads + " threads, best of 5)");
        double b = Roofline.memoryReadBandwidth((long) rooflineMib << 20, threads, 5);
        progress(String.format("  %.1f GB/s", b / 1e9));
        return b;
    }

    private BenchReport.Prefill prefill(DeepseekV2Model m, LatentKvCache cache, Workspace ws, int tokens,
                                        SplittableRandom rnd) {
        int vocab = m.config().vocabSize();
        int[] prompt = new int[tokens];
        for (int i = 0; i < tokens; i++) {
            prompt[i] = rnd.nextInt(vocab);
        }
        CacheSequence seq = cache.newSequence();
        try {
            if (!cache.reserve(seq, tokens)) {
                throw new IllegalStateException("bench cache too small for a prompt of " + tokens + " tokens");
            }
            ForwardProfile prof = new ForwardProfile();
            ws.profile(prof);
            long t0 = System.nanoTime();
            m.forward(ForwardBatch.single(seq, prompt, 0), cache, AttentionMode.AUTO, ws);
            double seconds = (System.nanoTime() - t0) / 1e9;
            ws.profile(null);
            return new BenchReport.Prefill(tokens, seconds, BenchReport.phasesMs(prof, 1));
        } finally {
            cache.free(seq);
        }
    }

    /**
     * Decodes {@code batch} sequences together; times steps after the warm-up for at least {@code seconds}. With
     * {@code betweenRounds}, the timed steps come in rounds (a sixth of {@code seconds}, at least 0.3 s) with it run
     * untimed after each, and the step after it untimed too (its caches and TLBs were just flushed by it).
     */
    private BenchReport.Decode decode(DeepseekV2Model m, LatentKvCache cache, Workspace ws, int batch, double seconds,
                                      SplittableRandom rnd, Runnable betweenRounds) {
        ModelConfig c = m.config();
        int vocab = c.vocabSize();
        CacheSequence[] seqs = new CacheSequence[batch];
        Sampler[] samplers = new Sampler[batch];
        int[] tokens = new int[batch];
        int[] positions = new int[batch];
        int[] logitRows = new int[batch];
        long sampleSeed = rnd.nextLong();
        for (int b = 0; b < batch; b++) {
            seqs[b] = cache.newSequence();
            samplers[b] = new Sampler(SamplingParams.builder().temperature(1.0).seed(sampleSeed + b).build());
            tokens[b] = rnd.nextInt(vocab);
            logitRows[b] = b;
        }
        ForwardProfile prof = new ForwardProfile();
        long[] stepNanos = new long[MAX_CONTEXT];
        long[] stepBytes = new long[MAX_CONTEXT];
        long roundNanos = (long) (Math.max(0.3, seconds / 6) * 1e9);
        try {
            long timed = 0;
            long allocated = 0;
            long roundStart = 0;
            int skipUntil = WARMUP_STEPS;
            int steps = 0;
            for (int step = 0; step < MAX_CONTEXT; step++) {
                if (betweenRounds != null && steps > 0 && timed - roundStart >= roundNanos) {
                    betweenRounds.run();
                    roundStart = timed;
                    skipUntil = step + 1;
                }
                boolean timing = step >= skipUntil;
                if (timing && steps >= MIN_TIMED_STEPS && timed / 1e9 >= seconds) {
                    break;
                }
                for (int b = 0; b < batch; b++) {
                    positions[b] = step;
                    if (!cache.reserve(seqs[b], step + 1)) {
                        throw new IllegalStateException("bench cache full at batch " + batch + ", step " + step);
                    }
                }
                ws.profile(timing ? prof : null);
                long touchedBefore = prof.expertsTouched();
                long allocBefore = timing ? ALLOCATION.getTotalThreadAllocatedBytes() : 0;
                long t0 = System.nanoTime();
                float[] logits = m.forward(ForwardBatch.of(tokens, positions, seqs, logitRows), cache,
                        AttentionMode.AUTO, ws);
                long ts = System.nanoTime();
                // Every row's sampler is its own: the rows are sampled at once on the backend's threads, as the
                // serving scheduler does.
                int[] next = tokens;
                m.backend().forEachOnHost(batch, b -> next[b] = samplers[b].sample(logits, b * vocab, vocab));
                if (timing) {
                    prof.add(ForwardProfile.Phase.SAMPLING, ts);
                    long t = System.nanoTime() - t0;
                    timed += t;
                    stepNanos[steps] = t;
                    stepBytes[steps] = m.stepWeightBytes()
                            + (prof.expertsTouched() - touchedBefore) * m.routedExpertBytes();
                    allocated += ALLOCATION.getTotalThreadAllocatedBytes() - allocBefore;
                    steps++;
                }
            }
            ws.profile(null);
            int moeLayers = 0;
            for (int l = 0; l < c.numHiddenLayers(); l++) {
                moeLayers += c.isMoeLayer(l) ? 1 : 0;
            }
            double expertsPerLayer = moeLayers == 0 || steps == 0 ? 0 : (double) prof.expertsTouched() / steps / moeLayers;
            double[] rates = new double[steps];
            for (int i = 0; i < steps; i++) {
                rates[i] = stepBytes[i] / (stepNanos[i] / 1e9);
            }
            double medianStep = median(stepNanos, steps) / 1e9;
            double allocPerStep = ALLOCATION.isThreadAllocatedMemorySupported() && steps > 0
                    ? (double) allocated / steps : Double.NaN;
            return new BenchReport.Decode(batch, steps, medianStep, timed / 1e9, median(rates),
                    expertsPerLayer, allocPerStep, BenchReport.phasesMs(prof, Math.max(steps, 1)));
        } finally {
            ws.profile(null);
            for (CacheSequence s : seqs) {
                cache.free(s);
            }
        }
    }

    private static double median(long[] v, int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) {
            d[i] = v[i];
        }
        return median(d);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        java.util.Arrays.sort(s);
        int n = s.length;
        return n == 0 ? Double.NaN : n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /** Useful flops of a prefill of {@code t} tokens from position 0 whose last row's logits are wanted. */
    static double prefillFlops(ModelConfig c, int t) {
        double d = c.hiddenSize();
        int h = c.numAttentionHeads();
        double q = c.hasQLora() ? (double) c.qLoraRank() * d + (double) h * c.qHeadDim() * c.qLoraRank()
                : (double) h * c.qHeadDim() * d;
        double kvA = (double) (c.kvLoraRank() + c.qkRopeHeadDim()) * d;
        double kvB = (double) h * (c.qkNopeHeadDim() + c.vHeadDim()) * c.kvLoraRank();
        double o = d * h * c.vHeadDim();
        double perTokenAttn = 2 * (q + kvA + kvB + o);
        double scores = 2.0 * h * ((double) t * (t + 1) / 2) * (c.qHeadDim() + c.vHeadDim());
        double flops = 0;
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            flops += t * perTokenAttn + scores;
            if (c.isMoeLayer(l)) {
                double routed = (double) c.numExpertsPerTok() * 3 * c.moeIntermediateSize() * d;
                double shared = 3.0 * c.sharedIntermediateSize() * d;
                double gate = (double) c.nRoutedExperts() * d;
                flops += 2.0 * t * (routed + shared + gate);
            } else {
                flops += 2.0 * t * 3 * c.intermediateSize() * d;
            }
        }
        return flops + 2.0 * c.vocabSize() * d;
    }

    /** The cached random checkpoint of a preset, written on first use (to a temporary directory, then renamed). */
    private Path presetDir(String name) {
        ModelConfig config = ModelPresets.preset(name);
        Path root = cacheDir != null ? cacheDir : Path.of(System.getProperty("user.home"), ".cache", "dsv2");
        Path dir = root.resolve("bench-" + name.replace(':', '-'));
        if (Files.isRegularFile(dir.resolve("model.safetensors.index.json"))) {
            progress("using cached checkpoint " + dir);
            return dir;
        }
        if (Files.exists(dir)) {
            throw new IllegalStateException(dir + " exists but has no model.safetensors.index.json (an interrupted "
                    + "write?): delete it, or pass it with --model if it is a checkpoint");
        }
        Path tmp = root.resolve(dir.getFileName() + ".partial-" + ProcessHandle.current().pid());
        progress("writing random " + name + " checkpoint to " + dir + " (once)");
        RandomCheckpointWriter.write(config, tmp, seed, line -> progress("make-model: " + line));
        try {
            Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("moving " + tmp + " to " + dir + ": " + e.getMessage(), e);
        }
        return dir;
    }

    static void progress(String line) {
        System.err.println("bench: " + line);
    }
}
