package dev.dsv2.engine.cuda;

import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.tensor.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The weights on the device: every mapped checkpoint tensor the model adopts ({@link CudaBackend#weight}) is uploaded
 * once, bf16 as stored, into its own allocation; the model keeps using the host {@link Weight} record (shape, name,
 * host address), and {@link #device} finds its device copy by address, so row slices of an uploaded weight (the
 * per-head {@code W_UK} / {@code W_UV} of {@code kv_b_proj}) and tied weights cost nothing more. An upload lives as
 * long as the host mapping it came from: once a model is closed (its checkpoint unmapped), the next adoption frees
 * its uploads, so a later mapping at the same addresses never finds stale device copies (the device selector's
 * parity probe loads and closes the model once before serving loads it again).
 */
final class DeviceWeights implements AutoCloseable {
    static final String INT8_UNSUPPORTED = "--weights int8 is not supported on cuda yet (the CUDA kernels take bf16"
            + " weights as stored; use --weights bf16, or --device cpu for int8)";

    /** An upload: the device copy and the host segment it came from (to tell when its mapping is closed). */
    private record Copy(DeviceBuffer device, MemorySegment host) {
    }

    private final UploadRanges<Copy> uploads = new UploadRanges<>();
    private final Map<Weight, DeviceBuffer> resolved = new IdentityHashMap<>();
    /** Native copies of weights that were not in native memory (tests' heap segments); freed with the weights. */
    private final Arena copies = Arena.ofShared();

    /**
     * Why {@code stored} (adopted with {@code quantizeInt8}) cannot run on the CUDA kernels, or null when it can.
     * Pure logic: no driver needed.
     */
    static String unsupported(Weight stored, boolean quantizeInt8) {
        if (quantizeInt8 || stored.isInt8()) {
            return INT8_UNSUPPORTED;
        }
        if (stored.dtype() != DType.BF16) {
            return "the CUDA kernels take bf16 weights; " + stored.name() + " is " + stored.dtype();
        }
        if (stored.cols() % 8 != 0) {
            return "the CUDA kernels need weight rows of a multiple of 8 values (16-byte loads); " + stored.name()
                    + " is [" + stored.rows() + ", " + stored.cols() + "]";
        }
        return null;
    }

    /** Uploads {@code stored} unless an earlier upload holds it; returns the weight the model keeps. */
    Weight adopt(Weight stored, boolean quantizeInt8) {
        String why = unsupported(stored, quantizeInt8);
        if (why != null) {
            throw new IllegalArgumentException(why);
        }
        freeUnmapped();
        Weight w = stored;
        if (!w.data().isNative()) {
            MemorySegment copy = copies.allocate(w.data().byteSize(), 16);
            copy.copyFrom(w.data());
            w = new Weight(w.name(), w.dtype(), w.rows(), w.cols(), copy);
        }
        MemorySegment data = w.data();
        if (uploads.find(data.address(), data.byteSize()) == null) {
            uploads.add(data.address(), data.byteSize(), new Copy(DeviceBuffer.of(data), data));
        }
        return w;
    }

    /** Frees the uploads whose host mapping has been closed (their model is gone). */
    private void freeUnmapped() {
        List<UploadRanges.Upload<Copy>> gone = uploads.removeIf(c -> !c.host().scope().isAlive());
        for (UploadRanges.Upload<Copy> u : gone) {
            u.value().device().close();
        }
        if (!gone.isEmpty()) {
            resolved.clear();
        }
    }

    /** The device copy of {@code w} (an adopted weight or a row slice of one). */
    DeviceBuffer device(Weight w) {
        DeviceBuffer b = resolved.get(w);
        if (b != null) {
            return b;
        }
        MemorySegment data = w.data();
        UploadRanges.Hit<Copy> hit = data.isNative() ? uploads.find(data.address(), data.byteSize()) : null;
        if (hit == null) {
            throw new IllegalArgumentException("weight " + w.name() + " was not adopted by the cuda backend "
                    + "(Backend.weight uploads it)");
        }
        b = hit.upload().value().device().sliceBytes(hit.offset());
        resolved.put(w, b);
        return b;
    }

    /** Host address of {@code w}'s first byte (to tell whether per-head slices are consecutive rows of one matrix). */
    static long address(Weight w) {
        return w.data().address();
    }

    /** Device bytes of all uploads. */
    long bytes() {
        return uploads.bytes();
    }

    @Override
    public void close() {
        for (UploadRanges.Upload<Copy> u : uploads.uploads()) {
            u.value().device().close();
        }
        uploads.clear();
        resolved.clear();
        copies.close();
    }
}
