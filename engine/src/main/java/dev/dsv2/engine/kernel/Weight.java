package dev.dsv2.engine.kernel;

import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A weight matrix {@code [rows = out_features, cols = in_features]}, row-major, in its stored dtype, backed by a
 * little-endian slice of the mapped checkpoint (never copied) or of memory made at load time. Kernels widen values
 * to float32 in registers.
 *
 * <p>Two formats: a float dtype (BF16, F16, F32) with {@code scales == null}, or {@link DType#I8} — symmetric int8
 * codes with one BF16 scale per block of {@link #INT8_BLOCK} consecutive values of a row, {@code scales} holding
 * {@code [rows, cols / INT8_BLOCK]} of them: {@code W[r, c] = data[r, c] · scales[r, c / 32]} ({@code docs/int8.md}).
 */
public record Weight(String name, DType dtype, int rows, int cols, MemorySegment data, MemorySegment scales) {
    /** Values of a row that share one int8 scale. */
    public static final int INT8_BLOCK = 32;

    public Weight {
        long need = (long) rows * cols * dtype.bytes();
        if (data.byteSize() != need) {
            throw new IllegalArgumentException(name + ": " + data.byteSize() + " bytes for [" + rows + ", " + cols
                    + "] " + dtype + " (expected " + need + ")");
        }
        if (dtype == DType.I8) {
            if (cols % INT8_BLOCK != 0) {
                throw new IllegalArgumentException(name + ": int8 weights need a column count that is a multiple of "
                        + INT8_BLOCK + " (one scale per block of " + INT8_BLOCK + "), got [" + rows + ", " + cols + "]");
            }
            long scaleBytes = 2L * rows * (cols / INT8_BLOCK);
            if (scales == null || scales.byteSize() != scaleBytes) {
                throw new IllegalArgumentException(name + ": int8 [" + rows + ", " + cols + "] needs " + scaleBytes
                        + " bytes of BF16 scales [" + rows + ", " + cols / INT8_BLOCK + "], got "
                        + (scales == null ? "none" : scales.byteSize() + " bytes"));
            }
        } else if (scales != null) {
            throw new IllegalArgumentException(name + ": a " + dtype + " weight takes no scales");
        }
    }

    /** A weight of a float dtype (no scales). */
    public Weight(String name, DType dtype, int rows, int cols, MemorySegment data) {
        this(name, dtype, rows, cols, data, null);
    }

    /** An int8 weight: {@code codes [rows, cols]} I8 and {@code scales [rows, cols / 32]} BF16, both little-endian. */
    public static Weight int8(String name, int rows, int cols, MemorySegment codes, MemorySegment scales) {
        return new Weight(name, DType.I8, rows, cols, codes, scales);
    }

    /** A 2-D tensor of the checkpoint as a weight matrix (a float dtype; int8 tensors need their scales). */
    public static Weight of(TensorView t) {
        if (t.rank() != 2) {
            throw new IllegalArgumentException("tensor " + t.name() + " in " + t.file() + " has shape " + t.shapeString()
                    + ", expected a 2-D weight matrix");
        }
        return new Weight(t.name(), t.dtype(), Math.toIntExact(t.dim(0)), Math.toIntExact(t.dim(1)), t.data());
    }

    public boolean isInt8() {
        return dtype == DType.I8;
    }

    /** Rows {@code [from, from + count)} as a weight of their own (a slice, no copy). */
    public Weight rowSlice(int from, int count) {
        long rowBytes = (long) cols * dtype.bytes();
        MemorySegment s = null;
        if (scales != null) {
            long scaleRow = 2L * (cols / INT8_BLOCK);
            s = scales.asSlice(from * scaleRow, count * scaleRow);
        }
        return new Weight(name + "[" + from + ":" + (from + count) + "]", dtype, count, cols,
                data.asSlice(from * rowBytes, count * rowBytes), s);
    }

    /** Bytes a pass over the whole weight reads (codes and scales for int8). */
    public long byteSize() {
        return data.byteSize() + (scales == null ? 0 : scales.byteSize());
    }

    /** The scale of block {@code block} ({@code c / 32}) of row {@code r} of an int8 weight. */
    public float scale(int r, int block) {
        return Bf16.toFloat(scales.get(TensorView.LE_SHORT, 2L * ((long) r * (cols / INT8_BLOCK) + block)));
    }

    /** Element {@code [r, c]} widened to float (slow path for oracles and tests); int8 is dequantized. */
    public float get(int r, int c) {
        long idx = (long) r * cols + c;
        if (dtype == DType.I8) {
            return data.get(ValueLayout.JAVA_BYTE, idx) * scale(r, c / INT8_BLOCK);
        }
        return Widen.read(dtype, data, idx);
    }
}
