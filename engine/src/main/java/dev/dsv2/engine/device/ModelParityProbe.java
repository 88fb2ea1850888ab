package dev.dsv2.engine.device;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.generate.GenerationResult;
import dev.dsv2.engine.generate.Generator;
import dev.dsv2.engine.generate.TokenListener;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.model.WeightFormat;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.sample.TopLogprobs;

import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * The model parity probe: the checkpoint in {@code dir} loaded twice, on the CPU backend (weights are mapped, so this
 * is cheap) and on the device backend, one short deterministic prompt ({@link #PROMPT}, prefill then
 * {@link #STEPS}{@code - 1} greedy decode steps) on both; the device passes when every greedy id is identical and the
 * top-{@link #TOP} logprobs (rank by rank) differ by at most {@link #TOLERANCE}. The kernel self-check tests each
 * kernel alone; this tests the forward pass the device will serve, end to end.
 */
public final class ModelParityProbe implements ParityProbe {
    /** Eight fixed token ids (taken modulo the vocabulary). */
    static final int[] PROMPT = {0, 5, 9, 17, 33, 65, 129, 257};
    /** Greedy tokens compared: the prefill's prediction and the decode steps after it. */
    public static final int STEPS = 5;
    public static final int TOP = 5;
    public static final double TOLERANCE = 2e-3;
    private static final int CACHE_TOKENS = 64;

    private final Path dir;
    private final WeightFormat weights;
    private final Supplier<Backend> cpu;

    /**
     * @param cpu opens the CPU reference backend (closed by the probe)
     */
    public ModelParityProbe(Path dir, WeightFormat weights, Supplier<Backend> cpu) {
        this.dir = dir;
        this.weights = weights;
        this.cpu = cpu;
    }

    @Override
    public String mismatch(Backend device) {
        GenerationResult want;
        try (Backend reference = cpu.get()) {
            want = run(reference);
        }
        GenerationResult got;
        try {
            got = run(device);
        } catch (RuntimeException e) {
            return "the forward pass on " + device.name() + " failed: " + e.getMessage();
        }
        return compare(want, got, device.name());
    }

    private GenerationResult run(Backend backend) {
        try (DeepseekV2Model model = DeepseekV2Model.load(dir, backend, weights, line -> { })) {
            LatentKvCache cache = LatentKvCache.forTokens(model.config(), CACHE_TOKENS, backend);
            try {
                int vocab = model.config().vocabSize();
                int[] prompt = new int[PROMPT.length];
                for (int i = 0; i < prompt.length; i++) {
                    prompt[i] = PROMPT[i] % vocab;
                }
                SamplingParams params = SamplingParams.greedy(STEPS).toBuilder().ignoreEos(true).logprobs(TOP)
                        .build();
                try (Generator generator = new Generator(model, cache)) {
                    return generator.generate(prompt, params, null, TokenListener.NONE);
                }
            } finally {
                cache.close();
            }
        }
    }

    /**
     * Null when {@code got} matches {@code want} (same greedy ids; top logprobs within {@link #TOLERANCE} rank by
     * rank), else one line naming the first step that does not and the error.
     */
    public static String compare(GenerationResult want, GenerationResult got, String deviceName) {
        int[] w = want.outputIds();
        int[] g = got.outputIds();
        if (g.length != w.length) {
            return "the device produced " + g.length + " tokens, the CPU " + w.length;
        }
        double worst = 0;
        for (int step = 0; step < w.length; step++) {
            if (w[step] != g[step]) {
                return "step " + step + ": greedy token " + g[step] + " on " + deviceName + ", " + w[step]
                        + " on the CPU";
            }
            TopLogprobs a = want.logprobs().get(step);
            TopLogprobs b = got.logprobs().get(step);
            for (int r = 0; r < Math.min(a.size(), b.size()); r++) {
                double err = Math.abs(a.logprob(r) - b.logprob(r));
                if (!(err <= TOLERANCE)) {
                    return String.format("step %d: |delta top-%d logprob| at rank %d is %.3g > %.0e (%s %.6f, cpu "
                            + "%.6f)", step, TOP, r + 1, err, TOLERANCE, deviceName, b.logprob(r), a.logprob(r));
                }
                worst = Math.max(worst, err);
            }
        }
        return null;
    }
}
