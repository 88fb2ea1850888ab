package dev.dsv2.engine.kernel;

/**
 * The oracle: plain scalar loops, single-threaded, float32 accumulation in natural order. Every other backend is
 * tested against this one.
 */
public final class ScalarBackend implements Backend {

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public void matmul(Weight w, float[] x, int xOff, float[] out, int outOff, int batch) {
        int rows = w.rows();
        int cols = w.cols();
        for (int b = 0; b < batch; b++) {
            for (int r = 0; r < rows; r++) {
                float acc = 0f;
                for (int c = 0; c < cols; c++) {
                    acc += x[xOff + b * cols + c] * w.get(r, c);
                }
                out[outOff + b * rows + r] = acc;
            }
        }
    }

    @Override
    public void matmulTransposed(Weight w, float[] x, int xOff, float[] out, int outOff) {
        int rows = w.rows();
        int cols = w.cols();
        for (int c = 0; c < cols; c++) {
            out[outOff + c] = 0f;
        }
        for (int r = 0; r < rows; r++) {
            float xr = x[xOff + r];
            for (int c = 0; c < cols; c++) {
                out[outOff + c] += xr * w.get(r, c);
            }
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
