package dev.dsv2.benchmarks;

import dev.dsv2.engine.kernel.cpu.Int8Quantizer;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.kernel.Weight;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The int8 matrix-vector kernel against the bf16 one on the same shapes in one process, run alternately round by
 * round so that the load of a shared machine weighs on both alike; the figure to read is the ratio, not the times.
 * Shape: one routed expert's gate projection {@code [1408, 2048]} of DeepSeek-V2-Lite. {@code hot}: the same weight
 * every call (cache-resident: the kernel's compute ceiling); {@code streamed}: each call the next of 64 experts
 * (369 MB bf16, 196 MB int8: from memory, as decode reads them). For each of 1 and 2 threads and 1, 2 and 4
 * activation rows, each round times {@code calls} calls of bf16 then of int8 (best call for hot, mean per call over
 * whole cycles of 64 for streamed); printed: the median over rounds of each time and of the per-round ratio
 * bf16 / int8 (above 1: int8 faster), and the int8 stream's GB/s. First, the time of quantizing the 64 experts
 * ({@link Int8Quantizer}, 2 threads), three times.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -cp benchmarks/target/benchmarks.jar
 * dev.dsv2.benchmarks.Int8MatVecRatio [rounds] [threads,...] [batches,...]}.
 */
public final class Int8MatVecRatio {
    private Int8MatVecRatio() {
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 9;
        int[] threads = args.length > 1 ? ints(args[1]) : new int[] {1, 2};
        int[] batches = args.length > 2 ? ints(args[2]) : new int[] {1, 2, 4};
        int n = RandomWeights.EXPERTS;
        try (Arena arena = Arena.ofShared(); VectorBackend setup = new VectorBackend(2)) {
            Weight[] bf16 = new Weight[n];
            Weight[] int8 = new Weight[n];
            for (int e = 0; e < n; e++) {
                bf16[e] = RandomWeights.bf16(arena, "expert" + e, RandomWeights.MOE_INTER, RandomWeights.HIDDEN, e);
            }
            for (int pass = 0; pass < 3; pass++) {
                long t0 = System.nanoTime();
                for (int e = 0; e < n; e++) {
                    int8[e] = Int8Quantizer.quantize(bf16[e], arena, setup);
                }
                System.out.printf("quantized %d experts (%.0f M weights) in %.0f ms on 2 threads%n", n,
                        (double) n * RandomWeights.MOE_INTER * RandomWeights.HIDDEN / 1e6,
                        (System.nanoTime() - t0) / 1e6);
            }
            System.out.printf("%-8s %-8s %5s %12s %12s %12s %10s%n", "threads", "weights", "batch", "bf16 us",
                    "int8 us", "bf16/int8", "int8 GB/s");
            for (int t : threads) {
                try (VectorBackend be = new VectorBackend(t)) {
                    for (String mode : List.of("hot", "streamed")) {
                        for (int batch : batches) {
                            run(be, t, mode, batch, bf16, int8, rounds);
                        }
                    }
                }
            }
        }
    }

    private static void run(VectorBackend be, int threads, String mode, int batch, Weight[] bf16, Weight[] int8,
                            int rounds) {
        boolean hot = "hot".equals(mode);
        float[] x = RandomWeights.floats(batch * RandomWeights.HIDDEN, 1);
        float[] out = new float[batch * RandomWeights.MOE_INTER];
        int calls = hot ? 200 : 2 * bf16.length;
        for (int warm = 0; warm < 3; warm++) {
            time(be, bf16, hot, x, out, batch, calls);
            time(be, int8, hot, x, out, batch, calls);
        }
        List<double[]> r = new ArrayList<>();
        for (int i = 0; i < rounds; i++) {
            double b = time(be, bf16, hot, x, out, batch, calls);
            double q = time(be, int8, hot, x, out, batch, calls);
            r.add(new double[] {b, q, b / q});
        }
        double b = median(r, 0);
        double q = median(r, 1);
        System.out.printf("%-8d %-8s %5d %12.1f %12.1f %12.3f %10.1f%n", threads, mode, batch, b, q, median(r, 2),
                int8[0].byteSize() / (q * 1e3));
    }

    /** Microseconds per call: the best call (hot) or the mean over {@code calls} calls cycling the weights. */
    private static double time(VectorBackend be, Weight[] ws, boolean hot, float[] x, float[] out, int batch,
                               int calls) {
        if (hot) {
            long best = Long.MAX_VALUE;
            for (int i = 0; i < calls; i++) {
                long t0 = System.nanoTime();
                be.matmul(ws[0], x, 0, out, 0, batch);
                best = Math.min(best, System.nanoTime() - t0);
            }
            return best / 1e3;
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            be.matmul(ws[i % ws.length], x, 0, out, 0, batch);
        }
        return (System.nanoTime() - t0) / 1e3 / calls;
    }

    private static double median(List<double[]> rows, int col) {
        double[] v = rows.stream().mapToDouble(a -> a[col]).sorted().toArray();
        return v[v.length / 2];
    }

    private static int[] ints(String csv) {
        return Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray();
    }
}
