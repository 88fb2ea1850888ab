package dev.dsv2.engine.kernel;

import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Scalar widening of stored weight values to float32 (little-endian, as safetensors stores them). */
public final class Widen {
    public static final ValueLayout.OfShort SHORT_LE = TensorView.LE_SHORT;
    public static final ValueLayout.OfFloat FLOAT_LE = TensorView.LE_FLOAT;

    private Widen() {
    }

    public static float bf16(short bits) {
        return Bf16.toFloat(bits);
    }

    /** Element {@code index} (counted in elements) of {@code seg} widened to float. */
    public static float read(DType dtype, MemorySegment seg, long index) {
        return dtype.read(seg, index);
    }

    /** Widens {@code n} consecutive elements starting at element {@code index} into {@code dst[dstOff..]}. */
    public static void readRange(DType dtype, MemorySegment seg, long index, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = read(dtype, seg, index + i);
        }
    }
}
