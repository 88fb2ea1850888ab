package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Backend;

/**
 * RMSNorm as the reference {@code DeepseekV2RMSNorm}: {@code y = w · x / sqrt(mean(x²) + eps)}, in float32, computed
 * by the backend's kernel (whose scalar form is the oracle of the kernel tests).
 */
public final class RmsNorm {
    private final float[] weight; // [dim]
    private final float eps;

    public RmsNorm(float[] weight, double eps) {
        this.weight = weight;
        this.eps = (float) eps;
    }

    public int dim() {
        return weight.length;
    }

    /** Normalises {@code rows} rows of {@code dim()} values from {@code x[xOff..]} (row stride {@code xStride}) into {@code out}. */
    public void apply(Backend be, float[] x, int xOff, int xStride, float[] out, int outOff, int outStride, int rows) {
        for (int r = 0; r < rows; r++) {
            be.rmsNorm(x, xOff + r * xStride, weight, eps, out, outOff + r * outStride);
        }
    }

    /** Bytes of the weight vector (float32 in memory). */
    public long byteSize() {
        return 4L * weight.length;
    }
}
