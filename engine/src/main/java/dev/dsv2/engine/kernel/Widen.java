package dev.dsv2.engine.kernel;

import dev.dsv2.engine.tensor.DType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Scalar widening of stored weight values to float32 (little-endian, as safetensors stores them). */
public final class Widen {
    static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Widen() {
    }

    public static float bf16(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    /** Element {@code index} (counted in elements) of {@code seg} widened to float. */
    public static float read(DType dtype, MemorySegment seg, long index) {
        return switch (dtype) {
            case BF16 -> bf16(seg.get(SHORT_LE, index * 2));
            case F16 -> Float.float16ToFloat(seg.get(SHORT_LE, index * 2));
            case F32 -> seg.get(FLOAT_LE, index * 4);
        };
    }

    /** Widens {@code n} consecutive elements starting at element {@code index} into {@code dst[dstOff..]}. */
    public static void readRange(DType dtype, MemorySegment seg, long index, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = read(dtype, seg, index + i);
        }
    }
}
