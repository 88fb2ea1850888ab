package dev.dsv2.engine.kernel;

/**
 * A {@link Buffer} in host memory: a float array that the host backends (CPU and scalar) compute on directly, so
 * their operations make no copies. Also the storage of caches and weights built without a backend (tests).
 */
public final class HostBuffer implements Buffer {
    private final Backend backend;
    private final float[] data;

    /** Wraps {@code data} (no copy) as a buffer of {@code backend} (null: any host backend). */
    public HostBuffer(Backend backend, float[] data) {
        this.backend = backend;
        this.data = data;
    }

    /** A zeroed host buffer of {@code floats} values. */
    public static HostBuffer allocate(Backend backend, long floats) {
        if (floats > Integer.MAX_VALUE - 16L) {
            throw new IllegalArgumentException(floats + " floats exceed one host array");
        }
        return new HostBuffer(backend, new float[(int) floats]);
    }

    /** The array behind {@code b}, which must be a host buffer. */
    public static float[] array(Buffer b) {
        if (b instanceof HostBuffer h) {
            return h.data;
        }
        throw new IllegalArgumentException("a host backend got a buffer of " + b.backend().name());
    }

    /** The array itself (no copy). */
    public float[] array() {
        return data;
    }

    @Override
    public long length() {
        return data.length;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    @Override
    public void close() {
    }
}
