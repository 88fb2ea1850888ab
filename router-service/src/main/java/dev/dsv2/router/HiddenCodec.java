package dev.dsv2.router;

import com.google.protobuf.UnsafeByteOperations;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.proto.internal.v1.DType;
import dev.dsv2.proto.internal.v1.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * Router-side wire tensors: selected rows of the hidden states out (BF16 or F32, row-major little-endian), written
 * straight into a caller's buffer and wrapped without a copy; F32 partial sums back, added straight from the reply's
 * bytes into the output rows (no intermediate array).
 */
final class HiddenCodec {
    private HiddenCodec() {
    }

    /**
     * Rows {@code rows[0, n)} of {@code x [*, hidden]} as a {@code [n, hidden]} tensor of {@code dtype}, encoded into
     * {@code into} (exactly {@code n * hidden * dtype.bytes()} bytes, which the tensor then wraps: keep it untouched
     * until the tensor is no longer used).
     */
    static Tensor encodeRows(float[] x, int hidden, int[] rows, int n, WireDtype dtype, ByteBuffer into) {
        ByteBuffer buf = into.order(ByteOrder.LITTLE_ENDIAN);
        if (buf.remaining() != n * hidden * dtype.bytes()) {
            throw new IllegalArgumentException("buffer of " + buf.remaining() + " bytes for " + n + " x " + hidden
                    + " " + dtype);
        }
        if (dtype == WireDtype.F32) {
            FloatBuffer fb = buf.asFloatBuffer();
            for (int i = 0; i < n; i++) {
                fb.put(x, rows[i] * hidden, hidden);
            }
        } else {
            for (int i = 0, p = buf.position(); i < n; i++) {
                int off = rows[i] * hidden;
                for (int c = 0; c < hidden; c++, p += 2) {
                    buf.putShort(p, Bf16.fromFloat(x[off + c]));
                }
            }
        }
        return Tensor.newBuilder().setDtype(dtype.proto()).addShape(n).addShape(hidden)
                .setData(UnsafeByteOperations.unsafeWrap(buf)).build();
    }

    /**
     * Adds the values of {@code t}, which must be an F32 {@code [n, hidden]} tensor (a shard's partial sums), to rows
     * {@code rows[0, n)} of {@code out [*, hidden]}.
     *
     * @throws IllegalStateException naming {@code from} when the shard answered another dtype or shape
     */
    static void addF32Rows(Tensor t, int n, int hidden, int[] rows, float[] out, String from) {
        if (t.getDtype() != DType.F32 || t.getShapeCount() != 2 || t.getShape(0) != n || t.getShape(1) != hidden
                || t.getData().size() != (long) n * hidden * Float.BYTES) {
            throw new IllegalStateException(from + " answered a " + t.getDtype() + " " + t.getShapeList() + " tensor of "
                    + t.getData().size() + " bytes, expected F32 [" + n + ", " + hidden + "]");
        }
        FloatBuffer part = t.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        for (int i = 0; i < n; i++) {
            int dst = rows[i] * hidden;
            int src = i * hidden;
            for (int c = 0; c < hidden; c++) {
                out[dst + c] += part.get(src + c);
            }
        }
    }
}
