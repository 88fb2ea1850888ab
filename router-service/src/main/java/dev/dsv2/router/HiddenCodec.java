package dev.dsv2.router;

import com.google.protobuf.UnsafeByteOperations;
import dev.dsv2.engine.serve.ExpertWire;
import dev.dsv2.proto.internal.v1.DType;
import dev.dsv2.proto.internal.v1.Tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * Router-side wire tensors ({@link ExpertWire}: bf16 or float32, row-major little-endian): selected rows of the
 * hidden states out, written straight into a caller's buffer and wrapped without a copy; a shard's partial sums
 * back, added straight from the reply's bytes into the output rows (no intermediate array).
 */
final class HiddenCodec {
    private HiddenCodec() {
    }

    /** The proto dtype of {@code wire}. */
    static DType dtype(ExpertWire wire) {
        return wire == ExpertWire.F32 ? DType.F32 : DType.BF16;
    }

    /**
     * Rows {@code rows[0, n)} of {@code x [*, hidden]} as a {@code [n, hidden]} tensor of {@code wire}, encoded into
     * {@code into} (exactly {@code n * hidden * wire.bytes()} bytes from its position to its limit, which the tensor
     * then wraps: keep it untouched until the tensor is no longer used).
     */
    static Tensor encodeRows(float[] x, int hidden, int[] rows, int n, ExpertWire wire, ByteBuffer into) {
        long rowBytes = (long) hidden * wire.bytes();
        if (into.remaining() != n * rowBytes) {
            throw new IllegalArgumentException("buffer of " + into.remaining() + " bytes for " + n + " x " + hidden
                    + " " + wire);
        }
        MemorySegment m = MemorySegment.ofBuffer(into);
        for (int i = 0; i < n; i++) {
            wire.write(x, rows[i] * hidden, hidden, m, i * rowBytes);
        }
        return Tensor.newBuilder().setDtype(dtype(wire)).addShape(n).addShape(hidden)
                .setData(UnsafeByteOperations.unsafeWrap(into)).build();
    }

    /**
     * Adds the values of {@code t}, which must be a {@code [n, hidden]} tensor of {@code wire} (a shard's partial
     * sums), to rows {@code rows[0, n)} of {@code out [*, hidden]}.
     *
     * @throws IllegalStateException naming {@code from} when the shard answered another dtype or shape
     */
    static void addRows(Tensor t, int n, int hidden, int[] rows, float[] out, ExpertWire wire, String from) {
        long rowBytes = (long) hidden * wire.bytes();
        if (t.getDtype() != dtype(wire) || t.getShapeCount() != 2 || t.getShape(0) != n || t.getShape(1) != hidden
                || t.getData().size() != n * rowBytes) {
            throw new IllegalStateException(from + " answered a " + t.getDtype() + " " + t.getShapeList()
                    + " tensor of " + t.getData().size() + " bytes, expected " + dtype(wire) + " [" + n + ", " + hidden
                    + "]");
        }
        MemorySegment part = MemorySegment.ofBuffer(t.getData().asReadOnlyByteBuffer());
        for (int i = 0; i < n; i++) {
            wire.addTo(part, i * rowBytes, out, rows[i] * hidden, hidden);
        }
    }
}
