package dev.dsv2.engine.cuda;

import jcuda.Pointer;
import jcuda.Sizeof;

import java.util.EnumMap;
import java.util.Map;

import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;

/**
 * The device intermediates of the backend's operations (gathered queries, latent queries, split-K partials,
 * expanded keys and values, gate logits, the packed host metadata): one buffer per {@link Slot}, grown on demand by
 * half again and kept, so a decode step allocates nothing once warm. Belongs to one backend and is used by one
 * thread at a time, as the backend is.
 */
final class DeviceScratch implements AutoCloseable {
    enum Slot {
        METADATA, ROPE_TABLES, Q_GATHERED, Q_LATENT, CTX_LATENT, ATTN_GATHERED, PART_ACC, PART_MAX, PART_SUM,
        LATENT, KV_EXPANDED, KEYS, GATE_LOGITS, GATE_IDS, GATE_WEIGHTS
    }

    private final Map<Slot, DeviceBuffer> buffers = new EnumMap<>(Slot.class);

    /** A buffer of at least {@code floats} 4-byte values (floats or ints); contents unspecified. */
    DeviceBuffer get(Slot slot, long floats) {
        long need = Math.max(1, floats) * Sizeof.FLOAT;
        DeviceBuffer b = buffers.get(slot);
        if (b == null || b.bytes() < need) {
            long grown = Math.max(need, b == null ? 0 : b.bytes() + b.bytes() / 2);
            if (b != null) {
                b.close();
            }
            b = new DeviceBuffer(grown);
            buffers.put(slot, b);
        }
        return b;
    }

    /** {@code host[0, n)} in the slot's buffer (one copy). */
    DeviceBuffer upload(Slot slot, int[] host, int n) {
        DeviceBuffer b = get(slot, n);
        if (n > 0) {
            cuMemcpyHtoD(b.ptr(), Pointer.to(host), (long) n * Sizeof.INT);
        }
        return b;
    }

    /** {@code host[0, n)} in the slot's buffer (one copy). */
    DeviceBuffer upload(Slot slot, float[] host, int n) {
        DeviceBuffer b = get(slot, n);
        if (n > 0) {
            cuMemcpyHtoD(b.ptr(), Pointer.to(host), (long) n * Sizeof.FLOAT);
        }
        return b;
    }

    /** Device bytes held. */
    long bytes() {
        long sum = 0;
        for (DeviceBuffer b : buffers.values()) {
            sum += b.bytes();
        }
        return sum;
    }

    @Override
    public void close() {
        for (DeviceBuffer b : buffers.values()) {
            b.close();
        }
        buffers.clear();
    }
}
