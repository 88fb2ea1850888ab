package dev.dsv2.engine.kernel.scalar;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.cpu.HostBackend;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.kernel.ExpertGroups;

/**
 * The oracle: plain scalar loops, single-threaded, float32 accumulation in natural order (sums of squares and
 * softmax denominators in double, as the model's reference does). Every other backend is tested against this one.
 */
public final class ScalarBackend extends HostBackend {

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public void matmul(Weight w, float[] x, int xOff, int xStride, float[] out, int outOff, int outStride, int batch) {
        int rows = w.rows();
        int cols = w.cols();
        for (int b = 0; b < batch; b++) {
            for (int r = 0; r < rows; r++) {
                float acc = 0f;
                for (int c = 0; c < cols; c++) {
                    acc += x[xOff + b * xStride + c] * w.get(r, c);
                }
                out[outOff + b * outStride + r] = acc;
            }
        }
    }

    @Override
    public void matmulTransposed(Weight w, float[] x, int xOff, int xStride, float[] out, int outOff, int outStride,
                                 int batch) {
        int rows = w.rows();
        int cols = w.cols();
        for (int b = 0; b < batch; b++) {
            int o = outOff + b * outStride;
            for (int c = 0; c < cols; c++) {
                out[o + c] = 0f;
            }
            for (int r = 0; r < rows; r++) {
                float xr = x[xOff + b * xStride + r];
                for (int c = 0; c < cols; c++) {
                    out[o + c] += xr * w.get(r, c);
                }
            }
        }
    }

    @Override
    public void swiGlu(ExpertGroups groups, float[] x, int xOff, float[] out, int outOff) {
        int d = groups.hiddenSize();
        for (int g = 0; g < groups.groupCount(); g++) {
            Weight gate = groups.gate(g);
            Weight up = groups.up(g);
            Weight down = groups.down(g);
            int inter = gate.rows();
            float[] h = new float[inter];
            float[] y = new float[d];
            for (int e = groups.start(g); e < groups.start(g + 1); e++) {
                int xo = xOff + groups.row(e) * d;
                matmul(gate, x, xo, d, h, 0, inter, 1);
                for (int i = 0; i < inter; i++) {
                    float u = 0f;
                    for (int c = 0; c < d; c++) {
                        u += x[xo + c] * up.get(i, c);
                    }
                    h[i] = silu(h[i]) * u;
                }
                matmul(down, h, 0, inter, y, 0, d, 1);
                int oo = outOff + groups.row(e) * d;
                float s = groups.scale(e);
                for (int c = 0; c < d; c++) {
                    out[oo + c] += s * y[c];
                }
            }
        }
    }

    /** The reference activation {@code v / (1 + exp(-v))}. */
    public static float silu(float v) {
        return (float) (v / (1.0 + Math.exp(-v)));
    }

    @Override
    public void causalAttention(float[] q, int qOff, int qStride, int nq, int dk,
                                float[] kT, int kTOff, int kTStride, int nk,
                                float[] v, int vOff, int vStride, int dv,
                                int causalOffset, float scale, float[] out, int outOff, int outStride) {
        float[] s = new float[nk];
        for (int i = 0; i < nq; i++) {
            int n = Math.min(nk, causalOffset + i + 1);
            for (int t = 0; t < n; t++) {
                float acc = 0f;
                for (int d = 0; d < dk; d++) {
                    acc += q[qOff + i * qStride + d] * kT[kTOff + d * kTStride + t];
                }
                s[t] = acc * scale;
            }
            softmax(s, 0, n);
            int o = outOff + i * outStride;
            for (int j = 0; j < dv; j++) {
                float acc = 0f;
                for (int t = 0; t < n; t++) {
                    acc += s[t] * v[vOff + t * vStride + j];
                }
                out[o + j] = acc;
            }
        }
    }

    @Override
    public void pagedAttention(float[] q, int qOff, int qStride, int nq, int dk, float[] cache, int[] offs,
                               int offsOff, int n, int dv, float scale, float[] out, int outOff, int outStride) {
        float[] s = new float[n];
        for (int i = 0; i < nq; i++) {
            for (int t = 0; t < n; t++) {
                s[t] = dot(q, qOff + i * qStride, cache, offs[offsOff + t], dk) * scale;
            }
            softmax(s, 0, n);
            int o = outOff + i * outStride;
            for (int j = 0; j < dv; j++) {
                float acc = 0f;
                for (int t = 0; t < n; t++) {
                    acc += s[t] * cache[offs[offsOff + t] + j];
                }
                out[o + j] = acc;
            }
        }
    }

    @Override
    public void softmax(float[] v, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, v[off + i]);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(v[off + i] - max);
            v[off + i] = e;
            sum += e;
        }
        float inv = (float) (1.0 / sum);
        for (int i = 0; i < n; i++) {
            v[off + i] *= inv;
        }
    }

    @Override
    public void rmsNorm(float[] x, int xOff, float[] weight, float eps, float[] out, int outOff) {
        int n = weight.length;
        double ss = 0;
        for (int i = 0; i < n; i++) {
            float v = x[xOff + i];
            ss += (double) v * v;
        }
        float inv = (float) (1.0 / Math.sqrt((float) (ss / n) + eps));
        for (int i = 0; i < n; i++) {
            out[outOff + i] = weight[i] * (x[xOff + i] * inv);
        }
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        float acc = 0f;
        for (int i = 0; i < n; i++) {
            acc += a[aOff + i] * b[bOff + i];
        }
        return acc;
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        for (int i = 0; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }
}
