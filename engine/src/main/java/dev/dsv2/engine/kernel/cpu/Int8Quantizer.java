package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

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
    private static final VectorSpecies<Float> F = Lanes.F;
    private static final int L = Lanes.L;
    /** One byte per float lane: the codes of one vector. */
    private static final VectorSpecies<Byte> CODES = VectorSpecies.of(byte.class,
            VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 4)));
    /** The lanes of a code vector that hold codes (all of them unless vectors are 128 bits). */
    private static final VectorMask<Byte> FIRST_L = CODES.indexInRange(0, L);
    /** {@code 1.5 · 2^23}: {@code (y + ROUND) - ROUND} is {@code rint(y)} for {@code |y| < 2^22}. */
    private static final float ROUND = 12582912f;

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
        HostBackend.parallelFor(be, (w.rows() + ROWS_PER_TASK - 1) / ROWS_PER_TASK, 1, (t0, t1) ->
                quantizeRows(w, t0 * ROWS_PER_TASK, Math.min(w.rows(), t1 * ROWS_PER_TASK), codes, scales));
    }

    /**
     * Quantizes rows {@code [r0, r1)} of float weight {@code w} into {@code codes [rows, cols]} (I8) and
     * {@code scales [rows, cols / 32]} (BF16, little-endian), both laid out for the whole weight. Vectorized, with the
     * bytes of the scalar definition in the class doc: the block maximum is exact in any order, the division is the
     * same IEEE division, and {@code rint} is the round-half-even of adding and subtracting {@code 1.5 · 2^23} (exact
     * for the |values| <= 127 + 1 that reach it).
     *
     * @throws IllegalArgumentException naming the weight, row and column of a value that is not finite
     */
    public static void quantizeRows(Weight w, int r0, int r1, MemorySegment codes, MemorySegment scales) {
        checkShape(w);
        int cols = w.cols();
        int blocks = cols / INT8_BLOCK;
        float[] row = new float[cols];
        for (int r = r0; r < r1; r++) {
            widen(w, r, row);
            long rowCodes = (long) r * cols;
            for (int b = 0; b < blocks; b++) {
                int c0 = b * INT8_BLOCK;
                FloatVector m = FloatVector.zero(F);
                for (int c = c0; c < c0 + INT8_BLOCK; c += L) {
                    m = m.max(FloatVector.fromArray(F, row, c).abs());
                }
                float amax = m.reduceLanes(VectorOperators.MAX);
                if (!Float.isFinite(amax)) {
                    throw notFinite(w, r, row, c0);
                }
                short sBits = scaleBits(amax);
                float s = Bf16.toFloat(sBits);
                scales.set(TensorView.LE_SHORT, 2L * ((long) r * blocks + b), sBits);
                for (int c = c0; c < c0 + INT8_BLOCK; c += L) {
                    FloatVector q = s == 0f ? FloatVector.zero(F) : FloatVector.fromArray(F, row, c).div(s)
                            .add(ROUND).sub(ROUND).max(-127f).min(127f);
                    ByteVector v = (ByteVector) q.convertShape(VectorOperators.F2B, CODES, 0);
                    if (CODES.length() == L) {
                        v.intoMemorySegment(codes, rowCodes + c, Lanes.LE);
                    } else {
                        v.intoMemorySegment(codes, rowCodes + c, Lanes.LE, FIRST_L);
                    }
                }
            }
        }
    }

    /** Row {@code r} of float weight {@code w} widened into {@code row} (bf16 with vectors, others as the GEMM). */
    private static void widen(Weight w, int r, float[] row) {
        int cols = w.cols();
        if (w.dtype() != DType.BF16) {
            GemmKernels.widenRow(w, r, row, 0);
            return;
        }
        MemorySegment seg = w.data();
        long base = 2L * r * cols;
        for (int c = 0; c < cols; c += L) {
            ((IntVector) ShortVector.fromMemorySegment(Lanes.S, seg, base + 2L * c, Lanes.LE)
                    .convertShape(VectorOperators.S2I, Lanes.I, 0)).lanewise(VectorOperators.LSHL, 16)
                    .reinterpretAsFloats().intoArray(row, c);
        }
    }

    /** The error for the first value of block {@code [c0, c0 + 32)} of row {@code r} that is not finite. */
    private static IllegalArgumentException notFinite(Weight w, int r, float[] row, int c0) {
        int c = c0;
        while (Float.isFinite(row[c])) {
            c++;
        }
        return new IllegalArgumentException(w.name() + ": value [" + r + ", " + c + "] is " + row[c]
                + ", cannot quantize to int8");
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
