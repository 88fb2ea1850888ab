package dev.dsv2.benchmarks;

import dev.dsv2.engine.kernel.cpu.VectorBackend;
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

import java.util.concurrent.TimeUnit;

/**
 * The attention kernels at V2-Lite's shapes, all 16 heads on every thread. {@code prefill}: causal attention of
 * {@code context} queries over as many keys, dq 192, dv 128 (flops = 16 · ctx(ctx+1)/2 · 2 · (192 + 128)).
 * {@code decode}: one token's 16 heads over {@code context} latent entries of 576 (512 values), as the absorbed MLA
 * decode runs it.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class AttentionBenchmark {
    private static final int HEADS = 16;
    private static final int DQ = 192;
    private static final int DV = 128;
    private static final int LATENT = 576;
    private static final int KV_LORA = 512;

    @Param({"512", "4096"})
    int context;

    @Param({"2"})
    int threads;

    private VectorBackend backend;
    private float[] q;
    private float[] kT;
    private float[] v;
    private float[] out;
    private float[] cache;
    private int[] offs;
    private float[] qLatent;
    private float[] ctx;

    @Setup(Level.Trial)
    public void setUp() {
        backend = new VectorBackend(threads);
        q = RandomWeights.floats(context * HEADS * DQ, 1);
        kT = RandomWeights.floats(HEADS * DQ * context, 2);
        v = RandomWeights.floats(context * HEADS * DV, 3);
        out = new float[context * HEADS * DV];
        cache = RandomWeights.floats(context * LATENT, 4);
        offs = new int[context];
        for (int t = 0; t < context; t++) {
            offs[t] = t * LATENT;
        }
        qLatent = RandomWeights.floats(HEADS * LATENT, 5);
        ctx = new float[HEADS * KV_LORA];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        backend.close();
    }

    @Benchmark
    public float prefill() {
        int blocks = (context + 31) / 32;
        backend.parallelFor(HEADS * blocks, 1, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int h = u % HEADS;
                int i0 = (blocks - 1 - u / HEADS) * 32;
                int nq = Math.min(32, context - i0);
                backend.causalAttention(q, i0 * HEADS * DQ + h * DQ, HEADS * DQ, nq, DQ, kT, h * DQ * context,
                        context, context, v, h * DV, HEADS * DV, DV, i0, 0.07f, out, i0 * HEADS * DV + h * DV,
                        HEADS * DV);
            }
        });
        return out[0];
    }

    @Benchmark
    public float decode() {
        backend.parallelFor(2, 1, (g0, g1) -> {
            for (int g = g0; g < g1; g++) {
                backend.pagedAttention(qLatent, g * 8 * LATENT, LATENT, 8, LATENT, cache, offs, 0, context, KV_LORA,
                        0.07f, ctx, g * 8 * KV_LORA, KV_LORA);
            }
        });
        return ctx[0];
    }
}
