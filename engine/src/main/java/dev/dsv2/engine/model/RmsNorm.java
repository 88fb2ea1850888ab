package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;

/**
 * RMSNorm as the reference {@code DeepseekV2RMSNorm}: {@code y = w · x / sqrt(mean(x²) + eps)}, in float32, computed
 * by the backend's operation (whose scalar form is the oracle of the kernel tests). The weight is a backend buffer.
 */
public final class RmsNorm {
    private final Buffer weight; // [dim]
    private final int dim;
    private final float eps;

    public RmsNorm(Buffer weight, int dim, double eps) {
        this.weight = weight;
        this.dim = dim;
        this.eps = (float) eps;
    }

    public int dim() {
        return dim;
    }

    public Buffer weight() {
        return weight;
    }

    public float eps() {
        return eps;
    }

    /** Normalises {@code rows} rows of {@code dim()} values from {@code x[xOff..]} (row stride {@code xStride}) into {@code out}. */
    public void apply(Backend be, Buffer x, int xOff, int xStride, Buffer out, int outOff, int outStride, int rows) {
        be.rmsNorm(x, xOff, xStride, weight, dim, eps, out, outOff, outStride, rows);
    }

    /** Normalises the rows {@code rowIdx[0, n)} of {@code x} into rows {@code 0..n-1} of {@code out}. */
    public void applyRows(Backend be, Buffer x, int[] rowIdx, int n, Buffer out) {
        be.rmsNormRows(x, rowIdx, n, weight, dim, eps, out);
    }

    /** Bytes of the weight vector (float32 in memory). */
    public long byteSize() {
        return 4L * dim;
    }
}
