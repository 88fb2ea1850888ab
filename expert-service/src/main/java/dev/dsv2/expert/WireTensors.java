package dev.dsv2.expert;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.proto.internal.v1.DType;
import dev.dsv2.proto.internal.v1.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

/**
 * The wire form of activations between router and shards: a typed {@link Tensor} (dtype, shape, row-major
 * little-endian bytes). The expert side reads {@code [rows, cols]} matrices in BF16, F16 or F32 and always answers
 * in F32 (partial sums keep full precision).
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
            case F32 -> bytes.asFloatBuffer().get(out);
            case BF16 -> {
                ShortBuffer s = bytes.asShortBuffer();
                for (int i = 0; i < out.length; i++) {
                    out[i] = Bf16.toFloat(s.get(i));
                }
            }
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

    /** {@code values[0, rows*cols)} as an F32 {@code [rows, cols]} tensor. */
    public static Tensor f32(float[] values, int rows, int cols) {
        int n = rows * cols;
        ByteBuffer buf = ByteBuffer.allocate(n * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        FloatBuffer fb = buf.asFloatBuffer();
        fb.put(values, 0, n);
        ByteString data = UnsafeByteOperations.unsafeWrap(buf.array());
        return Tensor.newBuilder().setDtype(DType.F32).addShape(rows).addShape(cols).setData(data).build();
    }
}
