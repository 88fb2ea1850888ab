package dev.dsv2.engine.tensor;

/**
 * Conversions between float32 and bfloat16 bit patterns (held in a {@code short}).
 * Narrowing rounds to nearest, ties to even, exactly as PyTorch's {@code c10::BFloat16} does; a NaN stays a
 * NaN (sign kept, quiet bit set), infinities and signed zeros are kept, and finite values beyond the bf16 range
 * round to infinity. Widening is exact.
 */
public final class Bf16 {
    private Bf16() {
    }

    /** The bf16 nearest to {@code f} (ties to even). */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            // Truncation could clear every mantissa bit left in bf16 and turn the NaN into an infinity.
            return (short) ((bits >>> 16) | 0x0040);
        }
        int roundingBias = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + roundingBias) >>> 16);
    }

    /** The float32 value of a bf16 bit pattern (exact). */
    public static float toFloat(short b) {
        return Float.intBitsToFloat(b << 16);
    }
}
