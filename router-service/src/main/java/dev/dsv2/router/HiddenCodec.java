package dev.dsv2.router;

import com.google.protobuf.UnsafeByteOperations;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.proto.internal.v1.DType;
import dev.dsv2.proto.internal.v1.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * Router-side wire tensors: selected rows of the hidden states out (BF16 or F32, row-major little-endian), F32
 * partial sums back.
 */
final class HiddenCodec {
    private HiddenCodec() {
    }

    /** Rows {@code rows[0, n)} of {@code x [*, hidden]} as a {@code [n, hidden]} tensor of {@code dtype}. */
    static Tensor encodeRows(float[] x, int hidden, int[] rows, int n, WireDtype dtype) {
        ByteBuffer buf = ByteBuffer.allocate(n * hidden * dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        if (dtype == WireDtype.F32) {
            FloatBuffer fb = buf.asFloatBuffer();
            for (int i = 0; i < n; i++) {
                fb.put(x, rows[i] * hidden, hidden);
            }
        } else {
            for (int i = 0; i < n; i++) {
                int off = rows[i] * hidden;
                for (int c = 0; c < hidden; c++) {
                    buf.putShort(Bf16.fromFloat(x[off + c]));
                }
            }
        }
        return Tensor.newBuilder().setDtype(dtype.proto()).addShape(n).addShape(hidden)
                .setData(UnsafeByteOperations.unsafeWrap(buf.array())).build();
    }

    /**
     * The values of {@code t}, which must be an F32 {@code [n, hidden]} tensor (a shard's partial sums).
     *
     * @throws IllegalStateException naming {@code from} when the shard answered another dtype or shape
     */
    static float[] decodeF32(Tensor t, int n, int hidden, String from) {
        if (t.getDtype() != DType.F32 || t.getShapeCount() != 2 || t.getShape(0) != n || t.getShape(1) != hidden
                || t.getData().size() != (long) n * hidden * Float.BYTES) {
            throw new IllegalStateException(from + " answered a " + t.getDtype() + " " + t.getShapeList() + " tensor of "
                    + t.getData().size() + " bytes, expected F32 [" + n + ", " + hidden + "]");
        }
        float[] out = new float[n * hidden];
        t.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }
}
