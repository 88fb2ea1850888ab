package dev.dsv2.benchmarks;

import dev.dsv2.engine.kernel.cpu.Int8Quantizer;
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
import java.util.concurrent.TimeUnit;

/**
 * One routed expert's gate projection, {@code [1408, 2048]} bf16 (5.8 MB), times {@code batch} activation rows.
 * {@code streamed}: each call takes the next of 64 such weights (369 MB, far past the caches), as decode does, so
 * batch 1 measures weight streaming (bytes per call = 5.77e6; GB/s = 5.77e-3 / (ms per op)). {@code hot}: the same
 * weight every call (L3-resident), the compute ceiling of the kernel. Batch 1..7 runs the matrix-vector kernels,
 * 8 and more the GEMM kernels (flops per call = 2 · 1408 · 2048 · batch). {@code format=int8} runs the int8 kernels
 * on the same weights quantized (3.06 MB per call).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class MatmulBenchmark {
    @Param({"1", "4", "16", "64", "512"})
    int batch;

    @Param({"2"})
    int threads;

    @Param({"streamed", "hot"})
    String weights;

    /** bf16 as stored, or int8 (one bf16 scale per 32 values, quantized in the setup): 1.06 bytes per weight. */
    @Param({"bf16", "int8"})
    String format;

    private Arena arena;
    private VectorBackend backend;
    private Weight[] experts;
    private float[] x;
    private float[] out;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        backend = new VectorBackend(threads);
        int n = "hot".equals(weights) ? 1 : RandomWeights.EXPERTS;
        experts = new Weight[n];
        for (int e = 0; e < n; e++) {
            experts[e] = RandomWeights.bf16(arena, "expert" + e, RandomWeights.MOE_INTER, RandomWeights.HIDDEN, e);
            if ("int8".equals(format)) {
                experts[e] = Int8Quantizer.quantize(experts[e], arena, backend);
            }
        }
        x = RandomWeights.floats(batch * RandomWeights.HIDDEN, 1);
        out = new float[batch * RandomWeights.MOE_INTER];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        backend.close();
        arena.close();
    }

    @Benchmark
    public float matmul() {
        Weight w = experts[next];
        next = next + 1 == experts.length ? 0 : next + 1;
        backend.matmul(w, x, 0, out, 0, batch);
        return out[0];
    }
}
