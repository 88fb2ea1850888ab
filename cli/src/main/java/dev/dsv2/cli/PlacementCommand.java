package dev.dsv2.cli;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.model.PlacementPlan;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code ./dsv2 placement --model DIR --stats FILE --shards N [--replicas R] [--out FILE]}: a load-balanced expert ->
 * shard placement ({@link PlacementPlan}, EPLB-style: the R hottest experts of each layer replicated, then packed
 * heaviest first onto the least-loaded shard) from the tokens the router routed to each expert. The stats file is
 * the router's Prometheus metrics ({@code curl ROUTER:8081/q/metrics > stats.txt}); its
 * {@code dsv2_router_routed_tokens_total{layer, expert}} series are read.
 */
@Command(name = "placement", mixinStandardHelpOptions = true,
        description = "Compute a load-balanced expert -> shard placement from the router's per-expert token counts; "
                + "start every expert shard with -Ddsv2.shard.placement=FILE to use it (the router learns it from "
                + "the shards).")
public final class PlacementCommand implements Callable<Integer> {
    private static final Pattern SERIES = Pattern.compile(
            "^dsv2_router_routed_tokens_total\\{([^}]*)}\\s+(\\S+)");
    private static final Pattern LABEL = Pattern.compile("(\\w+)=\"([^\"]*)\"");

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The checkpoint (config.json).")
    Path model;

    @Option(names = "--stats", required = true, paramLabel = "FILE",
            description = "The router's /q/metrics text (dsv2_router_routed_tokens_total{layer,expert}).")
    Path stats;

    @Option(names = "--shards", required = true, paramLabel = "N", description = "Expert shards.")
    int shards;

    @Option(names = "--replicas", defaultValue = "0", paramLabel = "R",
            description = "Extra replicas of hot experts per layer (default ${DEFAULT-VALUE}).")
    int replicas;

    @Option(names = "--out", defaultValue = "placement.json", paramLabel = "FILE",
            description = "Where to write the placement (default ${DEFAULT-VALUE}).")
    Path out;

    @Override
    public Integer call() {
        ModelConfig c = ModelConfig.load(model);
        long[][] tokens = readStats(stats, c);
        PlacementPlan plan = PlacementPlan.balance(tokens, c.nRoutedExperts(), shards, replicas);
        plan.write(out);
        System.out.printf(Locale.ROOT, "%-6s %12s %12s %s%n", "layer", "tokens", "max/mean", "contiguous max/mean");
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            if (tokens[l] == null) {
                continue;
            }
            long sum = 0;
            for (long t : tokens[l]) {
                sum += t;
            }
            System.out.printf(Locale.ROOT, "%-6d %12d %12.3f %12.3f%n", l, sum, plan.imbalance(l),
                    contiguousImbalance(tokens[l], shards));
        }
        System.err.println("placement: wrote " + out + " (" + shards + " shards, " + replicas
                + " extra replicas per layer); start each shard with -Ddsv2.shard.placement=" + out.toAbsolutePath());
        return 0;
    }

    /** max/mean shard load of the contiguous default ranges, for comparison. */
    static double contiguousImbalance(long[] tokens, int n) {
        int e = tokens.length;
        double[] load = new double[n];
        for (int s = 0; s < n; s++) {
            for (int x = (int) ((long) s * e / n); x < (long) (s + 1) * e / n; x++) {
                load[s] += tokens[x];
            }
        }
        double max = 0;
        double sum = 0;
        for (double v : load) {
            max = Math.max(max, v);
            sum += v;
        }
        return sum == 0 ? 1 : max / (sum / n);
    }

    /**
     * {@code [layer][expert]} token counts from the Prometheus text in {@code file} (null rows for dense layers).
     *
     * @throws IllegalArgumentException naming the file when it has no such series, or a layer/expert the model lacks
     */
    static long[][] readStats(Path file, ModelConfig c) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException("--stats " + file + ": " + e.getMessage(), e);
        }
        long[][] tokens = new long[c.numHiddenLayers()][];
        for (int l = 0; l < tokens.length; l++) {
            if (c.isMoeLayer(l)) {
                tokens[l] = new long[c.nRoutedExperts()];
            }
        }
        int series = 0;
        for (String line : text.split("\n")) {
            Matcher m = SERIES.matcher(line.trim());
            if (!m.find()) {
                continue;
            }
            int layer = -1;
            int expert = -1;
            Matcher label = LABEL.matcher(m.group(1));
            while (label.find()) {
                switch (label.group(1)) {
                    case "layer" -> layer = Integer.parseInt(label.group(2));
                    case "expert" -> expert = Integer.parseInt(label.group(2));
                    default -> { }
                }
            }
            if (layer < 0 || layer >= tokens.length || tokens[layer] == null || expert < 0
                    || expert >= c.nRoutedExperts()) {
                throw new IllegalArgumentException("--stats " + file + ": series for layer " + layer + ", expert "
                        + expert + " does not fit the model (MoE layers with " + c.nRoutedExperts() + " experts)");
            }
            tokens[layer][expert] += (long) Double.parseDouble(m.group(2));
            series++;
        }
        if (series == 0) {
            throw new IllegalArgumentException("--stats " + file + ": no dsv2_router_routed_tokens_total{layer,expert}"
                    + " series (save a router's metrics: curl ROUTER:8081/q/metrics > FILE)");
        }
        return tokens;
    }
}
