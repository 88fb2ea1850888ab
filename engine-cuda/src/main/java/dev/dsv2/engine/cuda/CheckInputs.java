package dev.dsv2.engine.cuda;

import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Random inputs of the self-check and the device copies made of them (all freed by {@link #close()}), plus the error
 * measure every kernel is judged by.
 */
final class CheckInputs implements AutoCloseable {
    private final SplittableRandom rnd;
    private final Arena arena = Arena.ofConfined();
    private final List<DeviceBuffer> device = new ArrayList<>();

    CheckInputs(long seed) {
        this.rnd = new SplittableRandom(seed);
    }

    SplittableRandom random() {
        return rnd;
    }

    /** Gaussian values of standard deviation {@code std}. */
    float[] gaussian(int n, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (nextGaussian() * std);
        }
        return v;
    }

    private double nextGaussian() {
        double u = 1.0 - rnd.nextDouble();
        double v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }

    /** A bf16 weight [rows, cols] of Gaussian values with std {@code 1/sqrt(cols)} (outputs of order 1), off-heap. */
    Weight weight(String name, int rows, int cols) {
        MemorySegment seg = arena.allocate((long) rows * cols * 2, 16);
        double std = 1.0 / Math.sqrt(cols);
        for (long i = 0; i < (long) rows * cols; i++) {
            seg.set(TensorView.LE_SHORT, i * 2, Bf16.fromFloat((float) (nextGaussian() * std)));
        }
        return new Weight(name, DType.BF16, rows, cols, seg);
    }

    /** {@code v} rounded to bf16 and widened back (what the tensor-core GEMM multiplies). */
    static float[] roundedToBf16(float[] v) {
        float[] r = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = Bf16.toFloat(Bf16.fromFloat(v[i]));
        }
        return r;
    }

    DeviceBuffer up(float[] host) {
        return track(DeviceBuffer.of(host));
    }

    DeviceBuffer up(double[] host) {
        return track(DeviceBuffer.of(host));
    }

    DeviceBuffer up(int[] host) {
        return track(DeviceBuffer.of(host));
    }

    DeviceBuffer up(Weight w) {
        return track(DeviceBuffer.of(w.data()));
    }

    DeviceBuffer zeros(long floats) {
        return track(DeviceBuffer.zeros(floats));
    }

    DeviceBuffer track(DeviceBuffer b) {
        device.add(b);
        return b;
    }

    /**
     * The error measure of the float kernels: {@code max_i |gpu_i - cpu_i| / rms(cpu)}, i.e. the worst deviation in
     * units of the output's typical magnitude (NaN when the GPU produced a NaN, which fails every tolerance).
     */
    static double relativeToRms(float[] gpu, float[] cpu, int n) {
        double ss = 0;
        double worst = 0;
        for (int i = 0; i < n; i++) {
            ss += (double) cpu[i] * cpu[i];
            double d = Math.abs((double) gpu[i] - cpu[i]);
            if (Double.isNaN(d)) {
                return Double.NaN;
            }
            worst = Math.max(worst, d);
        }
        double rms = Math.sqrt(ss / Math.max(n, 1));
        return worst / Math.max(rms, 1e-30);
    }

    @Override
    public void close() {
        for (DeviceBuffer b : device) {
            try {
                b.close();
            } catch (RuntimeException e) {
                // after a kernel fault the context is unusable and frees fail too; the fault was already reported
            }
        }
        device.clear();
        arena.close();
    }
}
