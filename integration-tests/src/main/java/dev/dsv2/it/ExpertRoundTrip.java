package dev.dsv2.it;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.serve.ExpertWire;
import dev.dsv2.router.CallTimeline;
import dev.dsv2.router.RemoteExperts;
import io.grpc.Status;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code ./dsv2 bench-serving --round-trip}: the expert wire alone. Two expert-service processes on loopback serve the
 * model; this process plays the router (the router's own {@link RemoteExperts}, the same streams and codec) and sends
 * one MoE layer's calls at a time, {@code rows} rows routed over both shards, waiting for each layer before the next
 * (decode at concurrency {@code rows}). Nothing else runs, so the figures are the wire's: per layer the round trip
 * from sending to combining, and the same without the slowest shard call's compute (decode + kernel + encode on the
 * shard), the figure issue #14's target ({@code p50 <= 1 ms} on loopback) is about; per call the phases of its
 * {@link CallTimeline}.
 */
final class ExpertRoundTrip {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ExpertRoundTrip() {
    }

    /** Collects the timelines of the layer being combined (the driver is one thread: calls, then onLayer). */
    private static final class Collector implements RemoteExperts.CallObserver {
        final List<Double> layerMicros = new ArrayList<>();
        final List<Double> excludingComputeMicros = new ArrayList<>();
        final Map<String, List<Double>> phaseMicros = new LinkedHashMap<>();
        final AtomicInteger failedAttempts = new AtomicInteger();
        long slowestCompute;
        boolean recording;

        Collector() {
            for (String p : CallTimeline.PHASES) {
                phaseMicros.put(p, new ArrayList<>());
            }
        }

        @Override
        public void onCall(int shardIndex, String endpoint, long nanos, Status.Code code) {
            if (code != Status.Code.OK) {
                failedAttempts.incrementAndGet(); // called on a transport thread: count, never throw
            }
        }

        @Override
        public void onCallTimeline(CallTimeline t) {
            slowestCompute = Math.max(slowestCompute, t.computeNanos());
            if (recording) {
                for (int i = 0; i < CallTimeline.PHASES.length; i++) {
                    phaseMicros.get(CallTimeline.PHASES[i]).add(t.phase(i) / 1e3);
                }
            }
        }

        @Override
        public void onLayer(long inFlightNanos, long waitedNanos) {
            if (recording) {
                layerMicros.add(inFlightNanos / 1e3);
                excludingComputeMicros.add((inFlightNanos - slowestCompute) / 1e3);
            }
            slowestCompute = 0;
        }
    }

    static void run(Path model, ExpertWire wire, int rows, int calls, boolean json, PrintStream out)
            throws Exception {
        ModelConfig config = ModelConfig.load(model);
        List<ServiceProcess> shards = new ArrayList<>();
        Collector collector = new Collector();
        try {
            for (int i = 0; i < 2; i++) {
                shards.add(ServiceProcess.start("round-trip-expert-" + i, "expert-service", Map.of(
                        "dsv2.model.dir", model.toString(), "dsv2.shard.index", "" + i, "dsv2.shard.count", "2",
                        "dsv2.threads", "" + ServingBenchmark.coLocatedShardThreads(2)), List.of("-Xmx2g")));
            }
            for (ServiceProcess s : shards) {
                s.awaitReady(Duration.ofMinutes(10));
            }
            try (RemoteExperts remote = RemoteExperts.connect(config, shards.stream().map(ServiceProcess::grpcAddress)
                    .toList(), RemoteExperts.Options.defaults().withWire(wire), collector)) {
                if (!remote.awaitReady(Duration.ofMinutes(1))) {
                    throw new IllegalStateException("shards not ready: " + remote.status());
                }
                drive(remote, config, rows, calls / 5, collector); // warm-up (JIT, connections), not recorded
                collector.recording = true;
                drive(remote, config, rows, calls, collector);
            }
        } finally {
            for (ServiceProcess s : shards) {
                s.close();
            }
        }
        report(model, wire, rows, collector, json, out);
    }

    /** {@code calls} layers one after the other, each row routed to top_k distinct experts across both shards. */
    private static void drive(RemoteExperts remote, ModelConfig config, int rows, int calls, Collector c) {
        int d = config.hiddenSize();
        int topK = config.numExpertsPerTok();
        int experts = config.nRoutedExperts();
        int layer = config.firstKDenseReplace();
        SplittableRandom rnd = new SplittableRandom(7);
        float[] x = new float[rows * d];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        int[] ids = new int[rows * topK];
        float[] weights = new float[rows * topK];
        float[] out = new float[rows * d];
        for (int n = 0; n < calls; n++) {
            for (int r = 0; r < rows; r++) {
                int first = rnd.nextInt(experts);
                for (int k = 0; k < topK; k++) {
                    ids[r * topK + k] = (first + k * (experts / topK)) % experts;
                    weights[r * topK + k] = 1f / topK;
                }
            }
            remote.start(layer, x, rows, ids, weights, topK, out).await();
        }
    }

    private static void report(Path model, ExpertWire wire, int rows, Collector c, boolean json, PrintStream out)
            throws Exception {
        OpenLoopLoad.Percentiles layer = OpenLoopLoad.Percentiles.of(c.layerMicros);
        OpenLoopLoad.Percentiles wireOnly = OpenLoopLoad.Percentiles.of(c.excludingComputeMicros);
        if (json) {
            ObjectNode o = JSON.createObjectNode();
            o.put("model", model.toString());
            o.put("wire", wire.label());
            o.put("rows", rows);
            o.put("layers", c.layerMicros.size());
            o.put("failed_attempts", c.failedAttempts.get());
            percentiles(o.putObject("layer_us"), layer);
            percentiles(o.putObject("layer_excluding_compute_us"), wireOnly);
            ObjectNode phases = o.putObject("call_phase_us");
            c.phaseMicros.forEach((p, v) -> percentiles(phases.putObject(p), OpenLoopLoad.Percentiles.of(v)));
            out.println(JSON.writeValueAsString(o));
            return;
        }
        out.printf(Locale.ROOT, "expert round trip: %s, %s wire, %d row(s) per layer, %d layers, 2 shard processes on"
                + " loopback, %d failed attempts (microseconds, p50 / p90 / p99)%n", model, wire, rows,
                c.layerMicros.size(), c.failedAttempts.get());
        out.printf(Locale.ROOT, "  %-28s %s%n", "layer (send to combine)", format(layer));
        out.printf(Locale.ROOT, "  %-28s %s%n", "layer excluding shard compute", format(wireOnly));
        for (Map.Entry<String, List<Double>> e : c.phaseMicros.entrySet()) {
            out.printf(Locale.ROOT, "  %-28s %s%n", "call: " + e.getKey(), format(OpenLoopLoad.Percentiles.of(
                    e.getValue())));
        }
    }

    private static void percentiles(ObjectNode o, OpenLoopLoad.Percentiles p) {
        o.put("p50", p.p50());
        o.put("p90", p.p90());
        o.put("p99", p.p99());
    }

    private static String format(OpenLoopLoad.Percentiles p) {
        return String.format(Locale.ROOT, "%8.0f / %8.0f / %8.0f", p.p50(), p.p90(), p.p99());
    }
}
