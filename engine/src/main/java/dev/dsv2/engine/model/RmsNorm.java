package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Backend;

/**
 * RMSNorm as the reference {@code DeepseekV2RMSNorm}: {@code y = w · x / sqrt(mean(x²) + eps)}, in float32. The
 * backend form is what the model runs; the scalar form (sum of squares in double) is kept for oracles.
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

    /** The scalar form of {@link #apply(Backend, float[], int, int, float[], int, int, int)}. */
    public void apply(float[] x, int xOff, int xStride, float[] out, int outOff, int outStride, int rows) {
        int n = weight.length;
        for (int r = 0; r < rows; r++) {
            int xi = xOff + r * xStride;
            int oi = outOff + r * outStride;
            double ss = 0;
            for (int i = 0; i < n; i++) {
                float v = x[xi + i];
                ss += (double) v * v;
            }
            float inv = (float) (1.0 / Math.sqrt((float) (ss / n) + eps));
            for (int i = 0; i < n; i++) {
                out[oi + i] = weight[i] * (x[xi + i] * inv);
            }
        }
    }

    /** Bytes of the weight vector (float32 in memory). */
    public long byteSize() {
        return 4L * weight.length;
    }
}
