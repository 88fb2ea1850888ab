package dev.dsv2.expert;

import com.google.protobuf.UnsafeByteOperations;
import dev.dsv2.engine.serve.ExpertWire;
import dev.dsv2.proto.internal.v1.DType;
import dev.dsv2.proto.internal.v1.Tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;

/**
 * The wire form of activations between router and shards: a typed {@link Tensor} (dtype, shape, row-major
 * little-endian bytes). The expert side reads {@code [rows, cols]} matrices in BF16, F16 or F32 and answers in the
 * format the request asks for ({@code output_dtype}: F32 or BF16, {@link ExpertWire}).
 */
public final class WireTensors {
    private WireTensors() {
    }

    /** A tensor that is not what the receiver needs; the message names the field and what was expected. */
    public static final class InvalidTensorException extends IllegalArgumentException {
        public InvalidTensorException(String message) {
            super(message);
        }
    }

    /**
     * Decodes {@code t} (named {@code field} in messages) as a {@code [rows, cols]} matrix of float32 values, where
     * {@code cols} must equal {@code expectedCols}; returns the values row-major.
     *
     * @throws InvalidTensorException for an unsupported dtype, a shape that is not {@code [rows >= 1, expectedCols]},
     *                                or a byte length that does not match dtype and shape
     */
    public static float[] decodeMatrix(Tensor t, String field, int expectedCols) {
        int bytesPer = switch (t.getDtype()) {
            case BF16, F16 -> 2;
            case F32 -> 4;
            default -> throw new InvalidTensorException(field + ".dtype: " + t.getDtype()
                    + " is not supported (expected BF16, F16 or F32)");
        };
        if (t.getShapeCount() != 2 || t.getShape(0) < 1 || t.getShape(1) != expectedCols) {
            throw new InvalidTensorException(field + ".shape: " + t.getShapeList() + ", expected [rows >= 1, "
                    + expectedCols + "] (the model's hidden_size is " + expectedCols + ")");
        }
        long rows = t.getShape(0);
        long elements = rows * expectedCols;
        if (elements > Integer.MAX_VALUE - 16) {
            throw new InvalidTensorException(field + ".shape: " + t.getShapeList() + " has " + elements
                    + " elements, too many for one call");
        }
        long want = elements * bytesPer;
        if (t.getData().size() != want) {
            throw new InvalidTensorException(field + ".data: " + t.getData().size() + " bytes, expected " + rows
                    + " x " + expectedCols + " x " + bytesPer + " = " + want + " for " + t.getDtype() + " "
                    + t.getShapeList());
        }
        float[] out = new float[(int) elements];
        ByteBuffer bytes = t.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        switch (t.getDtype()) {
            case F32 -> ExpertWire.F32.read(MemorySegment.ofBuffer(bytes), 0, out, 0, out.length);
            case BF16 -> ExpertWire.BF16.read(MemorySegment.ofBuffer(bytes), 0, out, 0, out.length);
            case F16 -> {
                ShortBuffer s = bytes.asShortBuffer();
                for (int i = 0; i < out.length; i++) {
                    out[i] = Float.float16ToFloat(s.get(i));
                }
            }
            default -> throw new AssertionError(t.getDtype());
        }
        return out;
    }

    /**
     * The wire format a request's {@code output_dtype} asks for: F32 (also when unspecified) or BF16.
     *
     * @throws InvalidTensorException for any other dtype
     */
    public static ExpertWire outputFormat(DType requested) {
        return switch (requested) {
            case DTYPE_UNSPECIFIED, F32 -> ExpertWire.F32;
            case BF16 -> ExpertWire.BF16;
            default -> throw new InvalidTensorException("output_dtype: " + requested
                    + " is not supported (expected F32 or BF16)");
        };
    }

    /** {@code values[0, rows*cols)} as a {@code [rows, cols]} tensor of {@code wire}, encoded into fresh bytes. */
    public static Tensor encode(float[] values, int rows, int cols, ExpertWire wire) {
        int n = rows * cols;
        byte[] bytes = new byte[n * wire.bytes()];
        wire.write(values, 0, n, MemorySegment.ofArray(bytes), 0);
        return Tensor.newBuilder().setDtype(wire == ExpertWire.F32 ? DType.F32 : DType.BF16).addShape(rows)
                .addShape(cols).setData(UnsafeByteOperations.unsafeWrap(bytes)).build();
    }
}
