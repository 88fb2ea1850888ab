package dev.dsv2.engine.kernel;

import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.dsv2.engine.kernel.Weight.INT8_BLOCK;

/**
 * Symmetric int8 quantization with one scale per block of {@value Weight#INT8_BLOCK} consecutive values of a row
 * (llama.cpp's Q8_0 layout, with a bf16 scale): for block {@code b} of row {@code r},
 * <pre>
 *   s = bf16_round_up(max_c |W[r, c]| / 127)      q[r, c] = clamp(rint(W[r, c] / s), -127, 127)
 * </pre>
 * The scale is rounded <em>up</em> to bf16 before the codes are computed from it, so no code leaves [-127, 127] and
 * the stored scale is the one the codes were made with: every value is reconstructed within {@code s / 2}
 * ({@code |W - q·s| <= s/2 <= max|W| / 254 · (1 + 2^-7)}). An all-zero block gets scale 0 and codes 0. The one
 * implementation used at load time and by {@code ./dsv2 quantize}, so both give the same bytes.
 */
public final class Int8Quantizer {
    private static final int ROWS_PER_TASK = 16;

    private Int8Quantizer() {
    }

    /** The bf16 bits of the scale of a block whose largest magnitude is {@code amax} (finite, >= 0). */
    public static short scaleBits(float amax) {
        int bits = Float.floatToRawIntBits(amax / 127f);
        if ((bits & 0xFFFF) != 0) {
            bits = (bits & 0xFFFF0000) + 0x10000;
        }
        return (short) (bits >>> 16);
    }

    /** A quantized copy of float weight {@code w} in memory of {@code arena}, rows quantized in parallel on {@code be}. */
    public static Weight quantize(Weight w, Arena arena, Backend be) {
        if (w.isInt8()) {
            return w;
        }
        checkShape(w);
        MemorySegment codes = arena.allocate((long) w.rows() * w.cols(), 64);
        MemorySegment scales = arena.allocate(2L * w.rows() * (w.cols() / INT8_BLOCK), 64);
        quantizeInto(w, codes, scales, be);
        return Weight.int8(w.name(), w.rows(), w.cols(), codes, scales);
    }

    /** Quantizes all of float weight {@code w} into {@code codes} and {@code scales}, rows in parallel on {@code be}. */
    public static void quantizeInto(Weight w, MemorySegment codes, MemorySegment scales, Backend be) {
        be.parallelFor((w.rows() + ROWS_PER_TASK - 1) / ROWS_PER_TASK, 1, (t0, t1) ->
                quantizeRows(w, t0 * ROWS_PER_TASK, Math.min(w.rows(), t1 * ROWS_PER_TASK), codes, scales));
    }

    /**
     * Quantizes rows {@code [r0, r1)} of float weight {@code w} into {@code codes [rows, cols]} (I8) and
     * {@code scales [rows, cols / 32]} (BF16, little-endian), both laid out for the whole weight.
     *
     * @throws IllegalArgumentException naming the weight, row and column of a value that is not finite
     */
    public static void quantizeRows(Weight w, int r0, int r1, MemorySegment codes, MemorySegment scales) {
        checkShape(w);
        int cols = w.cols();
        int blocks = cols / INT8_BLOCK;
        float[] row = new float[cols];
        byte[] q = new byte[cols];
        for (int r = r0; r < r1; r++) {
            GemmKernels.widenRow(w, r, row, 0);
            for (int b = 0; b < blocks; b++) {
                int c0 = b * INT8_BLOCK;
                float amax = 0f;
                for (int c = c0; c < c0 + INT8_BLOCK; c++) {
                    float v = row[c];
                    if (!Float.isFinite(v)) {
                        throw new IllegalArgumentException(w.name() + ": value [" + r + ", " + c + "] is " + v
                                + ", cannot quantize to int8");
                    }
                    amax = Math.max(amax, Math.abs(v));
                }
                short sBits = scaleBits(amax);
                float s = Bf16.toFloat(sBits);
                for (int c = c0; c < c0 + INT8_BLOCK; c++) {
                    q[c] = s == 0f ? 0 : (byte) Math.max(-127, Math.min(127, (int) Math.rint(row[c] / s)));
                }
                scales.set(TensorView.LE_SHORT, 2L * ((long) r * blocks + b), sBits);
            }
            MemorySegment.copy(q, 0, codes, ValueLayout.JAVA_BYTE, (long) r * cols, cols);
        }
    }

    private static void checkShape(Weight w) {
        if (w.dtype() == DType.I8) {
            throw new IllegalArgumentException(w.name() + " is already int8");
        }
        if (w.cols() % INT8_BLOCK != 0) {
            throw new IllegalArgumentException(w.name() + ": cannot quantize [" + w.rows() + ", " + w.cols()
                    + "] to int8: the column count must be a multiple of " + INT8_BLOCK
                    + " (one scale per block of " + INT8_BLOCK + " values of a row)");
        }
    }
}
