package dev.dsv2.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.dsv2.engine.model.ForwardProfile;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The figures of one {@code bench} run and their two renderings: a table for people and one JSON object with the
 * keys of the DESIGN.md contract ({@code memory_bandwidth_gbs}, {@code decode} as {@code {batch, tokens_per_s,
 * weight_gbs}}, {@code decode_bandwidth_ratio}, {@code prefill} as {@code {tokens, tokens_per_s, gflops}},
 * {@code peak_fma_gflops}, {@code prefill_compute_ratio}, {@code peak_rss_mb}) plus details (phase split, routed
 * experts per step, resident memory by kind).
 */
final class BenchReport {
    /** Phase names as printed, in order. */
    private static final ForwardProfile.Phase[] PHASES = ForwardProfile.Phase.values();

    record Prefill(int tokens, double seconds, Map<String, Double> phasesMs) {
        double tokensPerSecond() {
            return tokens / seconds;
        }
    }

    /** One decode batch size: the median step time, the total timed, the median weight bandwidth of the steps. */
    record Decode(int batch, int steps, double medianStepSeconds, double totalSeconds, double weightBytesPerSecond,
                  double expertsPerLayer, double allocatedBytesPerStep, Map<String, Double> phasesMs) {
        double tokensPerSecond() {
            return batch / medianStepSeconds;
        }

        double msPerStep() {
            return medianStepSeconds * 1e3;
        }

        double meanTokensPerSecond() {
            return batch * steps / totalSeconds;
        }
    }

    private final String model;
    private final String backend;
    private final int threads;
    private double bandwidth;
    private List<Double> bandwidthSamples = List.of();
    private double bandwidthBefore;
    private double bandwidthAfter;
    private double peakAtStart;
    private List<Double> peakSamples = List.of();
    private double peakFlops;
    private Prefill prefill;
    private double prefillFlopsPerSecond;
    private final List<Decode> decode = new ArrayList<>();
    private long peakRss;
    private long rssAnon;
    private long rssFile;

    /** The weight format the figures were measured with ({@code bf16} or {@code int8}). */
    private final String weights;

    BenchReport(String model, String backend, int threads, String weights) {
        this.model = model;
        this.backend = backend;
        this.threads = threads;
        this.weights = weights;
    }

    /**
     * The bandwidth measurements besides the reported one: those between the batch-1 decode rounds (the reported
     * figure is their median when there are any) and the best-of-5 runs before and after the model.
     */
    void bandwidthSamples(List<Double> samples, double before, double after) {
        this.bandwidthSamples = List.copyOf(samples);
        this.bandwidthBefore = before;
        this.bandwidthAfter = after;
    }

    /** The peak-FMA measurements: at the start, and right before each prefill run (the reported one is among these). */
    void peakSamples(double atStart, List<Double> beforePrefills) {
        this.peakAtStart = atStart;
        this.peakSamples = List.copyOf(beforePrefills);
    }

    void roofline(double bandwidthBytesPerSecond, double peakFlopsPerSecond) {
        this.bandwidth = bandwidthBytesPerSecond;
        this.peakFlops = peakFlopsPerSecond;
    }

    void prefill(Prefill p, double flopsPerSecond) {
        this.prefill = p;
        this.prefillFlopsPerSecond = flopsPerSecond;
    }

    void decode(Decode d) {
        decode.add(d);
    }

    void memory(long peak, long anon, long file) {
        this.peakRss = peak;
        this.rssAnon = anon;
        this.rssFile = file;
    }

    /** Milliseconds per step of every phase of {@code prof} over {@code steps} steps. */
    static Map<String, Double> phasesMs(ForwardProfile prof, int steps) {
        Map<String, Double> m = new LinkedHashMap<>();
        for (ForwardProfile.Phase p : PHASES) {
            m.put(p.name().toLowerCase(Locale.ROOT), round(prof.nanos(p) / 1e6 / steps));
        }
        return m;
    }

    private Double decodeBandwidthRatio() {
        for (Decode d : decode) {
            if (d.batch() == 1) {
                return round(d.weightBytesPerSecond() / bandwidth);
            }
        }
        return null;
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    private static double mb(long bytes) {
        return bytes < 0 ? -1 : Math.round(bytes / 1048576.0 * 10) / 10.0;
    }

    String toJson() {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("model", model);
        o.put("backend", backend);
        o.put("threads", threads);
        o.put("weights", weights);
        o.put("memory_bandwidth_gbs", round(bandwidth / 1e9));
        o.put("memory_bandwidth_method", bandwidthMethod());
        o.put("memory_bandwidth_samples_gbs", giga(bandwidthSamples));
        o.put("memory_bandwidth_before_after_gbs", List.of(round(bandwidthBefore / 1e9), round(bandwidthAfter / 1e9)));
        o.put("peak_fma_gflops", round(peakFlops / 1e9));
        o.put("peak_fma_method", "measured right before the reported prefill run (the median-ratio one of 3)");
        o.put("peak_fma_samples_gflops", giga(peakSamples));
        o.put("peak_fma_at_start_gflops", round(peakAtStart / 1e9));
        List<Map<String, Object>> dec = new ArrayList<>();
        List<Map<String, Object>> details = new ArrayList<>();
        for (Decode d : decode) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("batch", d.batch());
            e.put("tokens_per_s", round(d.tokensPerSecond()));
            e.put("weight_gbs", round(d.weightBytesPerSecond() / 1e9));
            e.put("weights", weights);
            dec.add(e);
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("batch", d.batch());
            x.put("steps", d.steps());
            x.put("median_ms_per_step", round(d.msPerStep()));
            x.put("mean_tokens_per_s", round(d.meanTokensPerSecond()));
            x.put("routed_experts_per_moe_layer", round(d.expertsPerLayer()));
            x.put("allocated_bytes_per_step", Double.isNaN(d.allocatedBytesPerStep()) ? null
                    : Math.round(d.allocatedBytesPerStep()));
            details.add(x);
        }
        o.put("decode", dec);
        o.put("decode_bandwidth_ratio", decodeBandwidthRatio());
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("tokens", prefill.tokens());
        p.put("tokens_per_s", round(prefill.tokensPerSecond()));
        p.put("gflops", round(prefillFlopsPerSecond / 1e9));
        p.put("weights", weights);
        o.put("prefill", p);
        o.put("prefill_compute_ratio", round(prefillFlopsPerSecond / peakFlops));
        o.put("peak_rss_mb", mb(peakRss));
        o.put("rss_anon_mb", mb(rssAnon));
        o.put("rss_file_mb", mb(rssFile));
        o.put("decode_details", details);
        Map<String, Object> phases = new LinkedHashMap<>();
        phases.put("prefill", prefill.phasesMs());
        for (Decode d : decode) {
            phases.put("decode_batch_" + d.batch(), d.phasesMs());
        }
        o.put("phases_ms_per_step", phases);
        try {
            return new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(o) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("bench report to JSON: " + e.getMessage(), e);
        }
    }

    /** Samples in units of 10^9, rounded as the other JSON figures. */
    private static List<Double> giga(List<Double> samples) {
        return samples.stream().map(v -> round(v / 1e9)).toList();
    }

    /** Samples in units of 10^9 with one decimal, as the table and progress lines print them. */
    static List<String> gigaText(List<Double> samples) {
        return samples.stream().map(v -> String.format(Locale.ROOT, "%.1f", v / 1e9)).toList();
    }

    private String bandwidthMethod() {
        return bandwidthSamples.isEmpty()
                ? "best of 5 passes, before and after the model"
                : "median of " + bandwidthSamples.size() + " measurements between the batch-1 decode rounds";
    }

    String toTable() {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "dsv2 bench: %s, backend %s, %s weights%n%n", model, backend, weights));
        s.append(String.format(Locale.ROOT, "machine (measured in this run, %d threads)%n", threads));
        s.append(String.format(Locale.ROOT, "  memory read bandwidth   %8.1f GB/s   (%s)%n", bandwidth / 1e9,
                bandwidthMethod()));
        if (!bandwidthSamples.isEmpty()) {
            s.append(String.format(Locale.ROOT, "    between decode rounds %s GB/s; best of 5 before %.1f, after %.1f%n",
                    gigaText(bandwidthSamples),
                    bandwidthBefore / 1e9, bandwidthAfter / 1e9));
        }
        s.append(String.format(Locale.ROOT, "  peak FMA                %8.1f GFLOP/s   (right before the reported prefill run)%n",
                peakFlops / 1e9));
        s.append(String.format(Locale.ROOT, "    before each prefill run %s GFLOP/s; at the start %.1f%n%n",
                gigaText(peakSamples),
                peakAtStart / 1e9));
        s.append(String.format(Locale.ROOT, "prefill, %d tokens, %s   %8.1f tok/s   %.1f GFLOP/s   compute ratio %.3f%n%n",
                prefill.tokens(), weights, prefill.tokensPerSecond(), prefillFlopsPerSecond / 1e9,
                prefillFlopsPerSecond / peakFlops));
        s.append("decode   weights   batch   tokens/s   weight GB/s   ms/step (median)   tokens/s (mean)"
                + "   routed experts/MoE layer   heap KB allocated/step\n");
        for (Decode d : decode) {
            s.append(String.format(Locale.ROOT, "         %7s   %5d   %8.1f   %11.1f   %16.2f   %15.1f   %24.1f   %22.1f%n",
                    weights, d.batch(), d.tokensPerSecond(), d.weightBytesPerSecond() / 1e9, d.msPerStep(),
                    d.meanTokensPerSecond(), d.expertsPerLayer(), d.allocatedBytesPerStep() / 1e3));
        }
        Double ratio = decodeBandwidthRatio();
        s.append(String.format(Locale.ROOT, "decode bandwidth ratio (batch 1)   %s%n%n",
                ratio == null ? "n/a (no batch 1)" : String.format(Locale.ROOT, "%.3f", ratio)));
        s.append(String.format(Locale.ROOT, "peak RSS %.0f MB (now: anonymous %.0f MB, mapped files %.0f MB)%n%n",
                mb(peakRss), mb(rssAnon), mb(rssFile)));
        s.append("time per step by phase (ms)\n");
        s.append(String.format(Locale.ROOT, "  %-16s", ""));
        for (ForwardProfile.Phase p : PHASES) {
            s.append(String.format(Locale.ROOT, "%11s", p.name().toLowerCase(Locale.ROOT)));
        }
        s.append('\n');
        appendPhases(s, "prefill", prefill.phasesMs());
        for (Decode d : decode) {
            appendPhases(s, "decode b=" + d.batch(), d.phasesMs());
        }
        return s.toString();
    }

    private static void appendPhases(StringBuilder s, String label, Map<String, Double> ms) {
        s.append(String.format(Locale.ROOT, "  %-16s", label));
        for (double v : ms.values()) {
            s.append(String.format(Locale.ROOT, "%11.2f", v));
        }
        s.append('\n');
    }
}
