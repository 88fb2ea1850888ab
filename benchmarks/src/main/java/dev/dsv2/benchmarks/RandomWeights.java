package dev.dsv2.benchmarks;

import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.engine.tensor.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/** Off-heap bf16 weights and float activations with random values in [-1, 1), the shapes of DeepSeek-V2-Lite. */
final class RandomWeights {
    static final int HIDDEN = 2048;
    static final int MOE_INTER = 1408;
    static final int EXPERTS = 64;

    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private RandomWeights() {
    }

    /** A bf16 weight {@code [rows, cols]} in memory owned by {@code arena}. */
    static Weight bf16(Arena arena, String name, int rows, int cols, long seed) {
        MemorySegment seg = arena.allocate((long) rows * cols * 2, 64);
        SplittableRandom rnd = new SplittableRandom(seed);
        for (long i = 0; i < (long) rows * cols; i++) {
            seg.set(SHORT_LE, 2 * i, Bf16.fromFloat((float) (rnd.nextDouble() * 2 - 1) * 0.05f));
        }
        return new Weight(name, DType.BF16, rows, cols, seg);
    }

    static float[] floats(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return v;
    }
}
