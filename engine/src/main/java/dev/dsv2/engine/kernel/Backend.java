package dev.dsv2.engine.kernel;

/**
 * The compute kernels the model math needs, behind one interface so that the model code never changes between the
 * scalar oracle, the CPU (Vector API) backend and a GPU backend. Activations are row-major float32 arrays; weights
 * stay in their stored dtype ({@link Weight}).
 *
 * <p>Shapes: {@code x} is {@code [batch, w.cols]} starting at {@code xOff}; {@code out} is {@code [batch, w.rows]}
 * starting at {@code outOff}.
 */
public interface Backend extends AutoCloseable {

    String name();

    /** {@code out[b, r] = Σ_c x[b, c] · W[r, c]} for every row b of the batch. */
    void matmul(Weight w, float[] x, int xOff, float[] out, int outOff, int batch);

    /**
     * The transposed product used to absorb {@code W_UK} into the query:
     * {@code out[c] = Σ_r x[r] · W[r, c]} for {@code r < w.rows}, {@code c < w.cols} ({@code x} is {@code [w.rows]}).
     */
    void matmulTransposed(Weight w, float[] x, int xOff, float[] out, int outOff);

    /** {@code Σ_i a[aOff + i] · b[bOff + i]} over {@code n} elements. */
    float dot(float[] a, int aOff, float[] b, int bOff, int n);

    /** {@code y[yOff + i] += alpha · x[xOff + i]} over {@code n} elements. */
    void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n);

    /** Widens row {@code row} of {@code w} (e.g. an embedding) into {@code out[outOff, outOff + w.cols)}. */
    default void readRow(Weight w, int row, float[] out, int outOff) {
        Widen.readRange(w.dtype(), w.data(), (long) row * w.cols(), out, outOff, w.cols());
    }

    /**
     * Runs {@code task} over {@code [0, n)}, in parallel where the backend has threads. Kernels called from inside
     * the task run on the calling thread.
     */
    default void parallelFor(int n, int grain, WorkerPool.RangeTask task) {
        task.run(0, n);
    }

    /** Backends that own threads or devices release them here. */
    @Override
    default void close() {
    }
}
