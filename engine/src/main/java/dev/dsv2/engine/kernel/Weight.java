package dev.dsv2.engine.kernel;

import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;

import java.lang.foreign.MemorySegment;

/**
 * A weight matrix {@code [rows = out_features, cols = in_features]}, row-major, in its stored dtype, backed by a
 * little-endian slice of the mapped checkpoint (never copied). Kernels widen values to float32 in registers.
 */
public record Weight(String name, DType dtype, int rows, int cols, MemorySegment data) {

    public Weight {
        long need = (long) rows * cols * dtype.bytes();
        if (data.byteSize() != need) {
            throw new IllegalArgumentException(name + ": " + data.byteSize() + " bytes for [" + rows + ", " + cols
                    + "] " + dtype + " (expected " + need + ")");
        }
    }

    /** A 2-D tensor of the checkpoint as a weight matrix. */
    public static Weight of(TensorView t) {
        if (t.rank() != 2) {
            throw new IllegalArgumentException("tensor " + t.name() + " in " + t.file() + " has shape " + t.shapeString()
                    + ", expected a 2-D weight matrix");
        }
        return new Weight(t.name(), t.dtype(), Math.toIntExact(t.dim(0)), Math.toIntExact(t.dim(1)), t.data());
    }

    /** Rows {@code [from, from + count)} as a weight of their own (a slice, no copy). */
    public Weight rowSlice(int from, int count) {
        long rowBytes = (long) cols * dtype.bytes();
        return new Weight(name + "[" + from + ":" + (from + count) + "]", dtype, count, cols,
                data.asSlice(from * rowBytes, count * rowBytes));
    }

    public long byteSize() {
        return data.byteSize();
    }

    /** Element {@code [r, c]} widened to float (slow path for oracles and tests). */
    public float get(int r, int c) {
        long idx = (long) r * cols + c;
        return Widen.read(dtype, data, idx);
    }
}
