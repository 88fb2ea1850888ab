package dev.dsv2.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor of a safetensors file: a read-only slice of the file's single memory mapping, never a copy.
 * Elements are stored row-major (C order) and little-endian; {@code shape} is the safetensors shape, so a
 * PyTorch {@code nn.Linear(in, out)} weight is {@code [out, in]}.
 *
 * <p>The accessors here widen elements to float one at a time; they are meant for small tensors (norms),
 * single rows (embedding lookups) and tests. Kernels read {@link #data()} directly with vector loads.
 * The view is valid until the file it came from is closed.
 *
 * @param name  the tensor name of the safetensors header, e.g. {@code model.layers.0.self_attn.o_proj.weight}
 * @param dtype the element type
 * @param shape the dimensions, outermost first (a copy is kept; {@link #shape()} returns a copy)
 * @param data  exactly {@code elementCount() * dtype.bytes()} bytes
 * @param file  the file the tensor was read from (for error messages)
 */
public record TensorView(String name, DType dtype, long[] shape, MemorySegment data, Path file) {

    public static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public TensorView {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(data, "data");
        shape = shape.clone();
        long count = elementCount(shape);
        if (data.byteSize() != count * dtype.bytes()) {
            throw new IllegalArgumentException("tensor " + name + " in " + file + ": shape " + Arrays.toString(shape)
                    + " of " + dtype + " needs " + count * dtype.bytes() + " bytes, data has " + data.byteSize());
        }
    }

    /** A copy of the shape. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int i) {
        if (i < 0 || i >= shape.length) {
            throw new IndexOutOfBoundsException("tensor " + name + " has rank " + shape.length + ", no dimension " + i);
        }
        return shape[i];
    }

    /** Product of the dimensions (1 for a scalar of shape {@code []}). */
    public long elementCount() {
        return elementCount(shape);
    }

    public long byteSize() {
        return data.byteSize();
    }

    /** Element {@code flatIndex} (row-major) widened to float. */
    public float getFloat(long flatIndex) {
        long count = elementCount();
        if (flatIndex < 0 || flatIndex >= count) {
            throw new IndexOutOfBoundsException("tensor " + name + " " + shapeString() + " has " + count
                    + " elements, no index " + flatIndex);
        }
        return read(flatIndex);
    }

    /** All elements widened to float (a copy; for small tensors such as norm weights). */
    public float[] toFloatArray() {
        long count = elementCount();
        if (count > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("tensor " + name + " " + shapeString() + " has " + count
                    + " elements, too many for a float[]");
        }
        float[] out = new float[(int) count];
        for (int i = 0; i < out.length; i++) {
            out[i] = read(i);
        }
        return out;
    }

    /** Widens row {@code row} of this 2-D tensor into {@code dst[dstOffset .. dstOffset + dim(1))}. */
    public void copyRowTo(long row, float[] dst, int dstOffset) {
        if (shape.length != 2) {
            throw new IllegalStateException("copyRowTo needs a 2-D tensor, " + name + " has shape " + shapeString());
        }
        long rows = shape[0];
        long cols = shape[1];
        if (row < 0 || row >= rows) {
            throw new IndexOutOfBoundsException("tensor " + name + " " + shapeString() + " has no row " + row);
        }
        Objects.checkFromIndexSize(dstOffset, (int) cols, dst.length);
        long base = row * cols;
        for (int j = 0; j < cols; j++) {
            dst[dstOffset + j] = dtype.read(data, base + j);
        }
    }

    /** The shape as {@code [2048, 102400]}. */
    public String shapeString() {
        return shapeString(shape);
    }

    public static String shapeString(long[] shape) {
        return Arrays.toString(shape);
    }

    /** Product of {@code shape}; throws on a negative dimension or on overflow. */
    public static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    private float read(long i) {
        return dtype.read(data, i);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorView t && name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape)
                && data.equals(t.data) && Objects.equals(file, t.file);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), data, file);
    }

    @Override
    public String toString() {
        return "TensorView[" + name + " " + dtype + " " + shapeString() + " in " + file + "]";
    }
}
