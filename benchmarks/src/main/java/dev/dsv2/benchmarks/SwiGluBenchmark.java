package dev.dsv2.benchmarks;

import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.kernel.Weight;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * One MoE layer's routed experts through the fused, grouped SwiGLU kernel: {@code rows} tokens, each routed to 6 of
 * 64 V2-Lite experts ({@code [1408, 2048]} gate/up, {@code [2048, 1408]} down, 17.3 MB each, 1.1 GB for the layer).
 * rows = 1 is a batch-1 decode step (6 experts streamed once: 104 MB per call); 16 and 64 are batched decode (about
 * 51 and 63 distinct experts); 512 is a prefill chunk (every expert, about 48 rows each, compute-bound).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 3)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class SwiGluBenchmark {
    private static final int TOP_K = 6;

    @Param({"1", "16", "64", "512"})
    int rows;

    @Param({"2"})
    int threads;

    private Arena arena;
    private VectorBackend backend;
    private Weight[][] experts;
    private int[][] routing;
    private final ExpertGroups groups = new ExpertGroups();
    private float[] x;
    private float[] out;
    private int step;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        backend = new VectorBackend(threads);
        int d = RandomWeights.HIDDEN;
        int inter = RandomWeights.MOE_INTER;
        experts = new Weight[RandomWeights.EXPERTS][];
        for (int e = 0; e < experts.length; e++) {
            experts[e] = new Weight[]{RandomWeights.bf16(arena, "gate" + e, inter, d, 3L * e),
                    RandomWeights.bf16(arena, "up" + e, inter, d, 3L * e + 1),
                    RandomWeights.bf16(arena, "down" + e, d, inter, 3L * e + 2)};
        }
        SplittableRandom rnd = new SplittableRandom(7);
        routing = new int[16][rows * TOP_K];
        for (int[] step : routing) {
            for (int r = 0; r < rows; r++) {
                for (int k = 0; k < TOP_K; k++) {
                    int e;
                    boolean dup;
                    do {
                        e = rnd.nextInt(RandomWeights.EXPERTS);
                        dup = false;
                        for (int j = 0; j < k; j++) {
                            dup |= step[r * TOP_K + j] == e;
                        }
                    } while (dup);
                    step[r * TOP_K + k] = e;
                }
            }
        }
        x = RandomWeights.floats(rows * d, 1);
        out = new float[rows * d];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        backend.close();
        arena.close();
    }

    @Benchmark
    public float moeLayer() {
        int[] ids = routing[step];
        step = (step + 1) % routing.length;
        groups.clear();
        for (int e = 0; e < experts.length; e++) {
            boolean open = false;
            for (int i = 0; i < ids.length; i++) {
                if (ids[i] == e) {
                    if (!open) {
                        groups.addGroup(experts[e][0], experts[e][1], experts[e][2]);
                        open = true;
                    }
                    groups.addRow(i / TOP_K, 1f / TOP_K);
                }
            }
        }
        backend.swiGlu(groups, x, 0, out, 0);
        return out[0];
    }
}
