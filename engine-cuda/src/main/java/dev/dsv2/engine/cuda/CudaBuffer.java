package dev.dsv2.engine.cuda;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;

/**
 * A {@link Buffer} in device memory of a {@link CudaBackend}: {@code length} float32 values in one allocation (none for
 * an empty buffer), freed by {@link #close()} (idempotent) in the backend's context.
 */
final class CudaBuffer implements Buffer {
    private final CudaBackend backend;
    private final long length;
    private final DeviceBuffer memory;
    private boolean closed;

    CudaBuffer(CudaBackend backend, long length, DeviceBuffer memory) {
        this.backend = backend;
        this.length = length;
        this.memory = memory;
    }

    /** The device memory of {@code b}, which must belong to {@code owner}. */
    static DeviceBuffer memory(Buffer b, CudaBackend owner) {
        if (!(b instanceof CudaBuffer c) || c.backend != owner) {
            throw new IllegalArgumentException("the cuda backend got a buffer of "
                    + (b.backend() == null ? "the host" : b.backend().name()));
        }
        if (c.closed || c.memory == null) {
            throw new IllegalStateException(c.closed ? "a closed cuda buffer" : "an empty cuda buffer");
        }
        return c.memory;
    }

    @Override
    public long length() {
        return length;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (memory != null) {
                backend.free(memory);
            }
        }
    }
}
