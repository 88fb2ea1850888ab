package dev.dsv2.engine.cuda;

import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUdeviceptr;

import java.lang.foreign.MemorySegment;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD32;

/**
 * One allocation of device memory, freed by {@link #close()}. Copies in and out are synchronous (the self-check and
 * tests; the serving path will use streams). The current context must be the one it was allocated in.
 */
final class DeviceBuffer implements AutoCloseable {
    /** Largest host chunk of one copy from a memory segment (a ByteBuffer view is limited to 2 GiB). */
    private static final long CHUNK = 1L << 30;

    private final CUdeviceptr ptr;
    private final long bytes;
    /** False for a {@link #slice}: the parent owns the memory. */
    private final boolean owner;
    private boolean freed;

    DeviceBuffer(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("device buffer of " + bytes + " bytes");
        }
        this.ptr = new CUdeviceptr();
        this.bytes = bytes;
        this.owner = true;
        cuMemAlloc(ptr, bytes);
    }

    private DeviceBuffer(CUdeviceptr ptr, long bytes) {
        this.ptr = ptr;
        this.bytes = bytes;
        this.owner = false;
    }

    /** The part of this buffer from float {@code floatOffset} on (no copy; valid while this buffer is). */
    DeviceBuffer slice(long floatOffset) {
        return sliceBytes(floatOffset * Sizeof.FLOAT);
    }

    /** The part of this buffer from byte {@code off} on (no copy; valid while this buffer is). */
    DeviceBuffer sliceBytes(long off) {
        if (off < 0 || off >= bytes) {
            throw new IllegalArgumentException("slice at byte " + off + " of a " + bytes + "-byte buffer");
        }
        return new DeviceBuffer(off == 0 ? ptr : ptr.withByteOffset(off), bytes - off);
    }

    static DeviceBuffer of(float[] host) {
        DeviceBuffer b = new DeviceBuffer((long) host.length * Sizeof.FLOAT);
        cuMemcpyHtoD(b.ptr, Pointer.to(host), b.bytes);
        return b;
    }

    static DeviceBuffer of(double[] host) {
        DeviceBuffer b = new DeviceBuffer((long) host.length * Sizeof.DOUBLE);
        cuMemcpyHtoD(b.ptr, Pointer.to(host), b.bytes);
        return b;
    }

    static DeviceBuffer of(int[] host) {
        DeviceBuffer b = new DeviceBuffer((long) host.length * Sizeof.INT);
        cuMemcpyHtoD(b.ptr, Pointer.to(host), b.bytes);
        return b;
    }

    /** The bytes of a (native, e.g. mapped checkpoint) segment as they are: bf16 weights stay bf16. */
    static DeviceBuffer of(MemorySegment seg) {
        DeviceBuffer b = new DeviceBuffer(seg.byteSize());
        for (long off = 0; off < seg.byteSize(); off += CHUNK) {
            long n = Math.min(CHUNK, seg.byteSize() - off);
            cuMemcpyHtoD(b.ptr.withByteOffset(off), Pointer.to(seg.asSlice(off, n).asByteBuffer()), n);
        }
        return b;
    }

    /** A device array of the addresses of {@code buffers} (for kernels that take one pointer per expert). */
    static DeviceBuffer pointers(DeviceBuffer... buffers) {
        Pointer[] ptrs = new Pointer[buffers.length];
        for (int i = 0; i < buffers.length; i++) {
            ptrs[i] = buffers[i].ptr;
        }
        DeviceBuffer b = new DeviceBuffer((long) buffers.length * Sizeof.POINTER);
        cuMemcpyHtoD(b.ptr, Pointer.to(ptrs), b.bytes);
        return b;
    }

    static DeviceBuffer zeros(long floats) {
        DeviceBuffer b = new DeviceBuffer(floats * Sizeof.FLOAT);
        cuMemsetD32(b.ptr, 0, floats);
        return b;
    }

    CUdeviceptr ptr() {
        return ptr;
    }

    long bytes() {
        return bytes;
    }

    float[] floats(int n) {
        float[] out = new float[n];
        cuMemcpyDtoH(Pointer.to(out), ptr, (long) n * Sizeof.FLOAT);
        return out;
    }

    int[] ints(int n) {
        int[] out = new int[n];
        cuMemcpyDtoH(Pointer.to(out), ptr, (long) n * Sizeof.INT);
        return out;
    }

    @Override
    public void close() {
        if (!freed && owner) {
            freed = true;
            cuMemFree(ptr);
        }
    }
}
