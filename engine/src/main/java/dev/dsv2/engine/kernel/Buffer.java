package dev.dsv2.engine.kernel;

/**
 * A backend-owned array of float32 values: activations, workspace slots, the paged latent cache, norm weights. The
 * model code holds buffers and hands them to {@link Backend} operations; it never reads or writes their elements
 * (host backends keep them in a {@link HostBuffer}, a device backend in device memory). Allocated with
 * {@link Backend#allocate}, released with {@link #close()}.
 */
public interface Buffer extends AutoCloseable {
    /** Length in floats. */
    long length();

    /** The backend that owns the storage, or null for a host buffer any host backend may use. */
    Backend backend();

    /** Releases the storage (device memory); a host buffer leaves its array to the garbage collector. */
    @Override
    void close();
}
