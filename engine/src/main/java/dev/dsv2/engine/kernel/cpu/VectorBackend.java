package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.CpuKernels;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.tensor.DType;

import static dev.dsv2.engine.kernel.cpu.GemmKernels.BLOCK;
import static dev.dsv2.engine.kernel.cpu.GemmKernels.GROUP_ROWS;
import static dev.dsv2.engine.kernel.cpu.Lanes.F;
import static dev.dsv2.engine.kernel.cpu.Lanes.L;

/**
 * CPU kernels on the Java Vector API, widest species of the machine, all cores through a persistent
 * {@link WorkerPool}. Weights are read straight from the mapped checkpoint (bf16 widened in registers); accumulation
 * is float32.
 *
 * <ul>
 *   <li>Fewer than {@link #gemmMinRows()} activation rows: {@link MatVecKernels} (dot-product form, the weight
 *       streamed once at memory bandwidth), parallel over weight rows.</li>
 *   <li>More: {@link GemmKernels} (activations packed once, weight rows widened once per group of 48, 8×48 / 12×32
 *       register tiles), parallel over row groups.</li>
 *   <li>SwiGLU experts ({@link GroupedSwiGlu}): two parallel phases for all groups at once — gate/up/SiLU over (expert, row group) units,
 *       then down. When every group is a decode-sized one (matrix-vector path), down runs per group in long runs of
 *       output rows into the group's own buffer, and the scaled rows are then added in a fixed order; otherwise
 *       down runs over hidden-dimension slices, each slice adding every expert's scaled contribution to its own
 *       columns, so no two threads write the same output.</li>
 * </ul>
 * Int8 weights ({@link Weight#isInt8()}) take the same routes: {@link Int8Kernels} for the matrix-vector and
 * transposed products, and their rows dequantized into the GEMM panels. With {@link CpuKernels#NATIVE} the int8
 * and bf16 matrix-vector products (the matrix-vector path of {@link #matmul}, lm_head included, and of
 * {@link #swiGlu}; with {@link CpuKernels#AUTO}, the default, the int8 ones only, where the native kernels can run)
 * run {@link NativeInt8} / {@link NativeBf16} instead, per parallel chunk, on activations quantized
 * to int8 / rounded to bf16 once per call (per group for SwiGLU). Bf16 products under the native kernels take
 * {@link NativeBf16} at every batch size, prefill included (from 8 activation rows the C kernel runs as a
 * register-tiled GEMM: 4 weight rows x 6 activation rows, K-blocked), instead of the Java GEMM path.
 * Per-thread scratch (packed activations, widened weights, tiles, scores) is kept in a thread-local, so the decode
 * loop does not allocate.
 */
public final class VectorBackend extends HostBackend {
    /** Activation rows from which matmuls switch to the register-blocked GEMM path ({@code -Ddsv2.gemm.minRows}). */
    static final int GEMM_MIN_ROWS = Integer.getInteger("dsv2.gemm.minRows", 16);

    /** Weight bytes per parallel chunk of a matrix-vector product: enough to amortise a chunk hand-off. */
    private static final int CHUNK_BYTES = 64 * 1024;

    private final WorkerPool pool;
    private final ThreadLocal<KernelScratch> scratch = ThreadLocal.withInitial(KernelScratch::new);
    /** One matrix-vector task object per calling thread, so a decode step's products create no task objects. */
    private final ThreadLocal<MatVecTask> matVecTask = ThreadLocal.withInitial(() -> new MatVecTask());
    private final GroupedSwiGlu swiGlu;
    /** The kernels asked for ({@link CpuKernels}). */
    private final CpuKernels kernels;
    /** Whether int8 weights' products run the native kernel ({@link CpuKernels#NATIVE}, or AUTO where it runs). */
    private final boolean nativeInt8;
    /** Whether bf16 weights' products run the native kernel ({@link CpuKernels#NATIVE} only). */
    private final boolean nativeBf16;

    /** The Java kernels ({@link CpuKernels#JAVA}). */
    public VectorBackend(int threads) {
        this(threads, CpuKernels.JAVA);
    }

    /**
     * @throws IllegalStateException for {@link CpuKernels#NATIVE} where the native kernels cannot run, naming what is
     *                               missing ({@link NativeInt8#unavailableReason}); {@link CpuKernels#AUTO} there
     *                               runs the Java kernels instead (logged once by {@link NativeInt8#autoAvailable})
     */
    public VectorBackend(int threads, CpuKernels kernels) {
        if (kernels == CpuKernels.NATIVE) {
            NativeInt8.require();
        }
        this.kernels = kernels;
        this.nativeInt8 = kernels == CpuKernels.NATIVE || kernels == CpuKernels.AUTO && NativeInt8.autoAvailable();
        this.nativeBf16 = kernels == CpuKernels.NATIVE;
        this.pool = new WorkerPool(threads);
        this.swiGlu = new GroupedSwiGlu(this);
    }

    @Override
    public String name() {
        String natives = switch (kernels) {
            case NATIVE -> ", native int8/bf16 kernels";
            case AUTO -> nativeInt8 ? ", kernels auto: int8 native, bf16 java" : ", kernels auto: java";
            case JAVA -> "";
        };
        return "vector(" + F.vectorBitSize() + "-bit, " + pool.threads() + " threads" + natives + ")";
    }

    /** Whether int8 weights' products run the native kernel. */
    boolean nativeInt8() {
        return nativeInt8;
    }

    /** Whether bf16 weights' products run the native kernel. */
    boolean nativeBf16() {
        return nativeBf16;
    }

    /** The kernels asked for ({@link #name} says which products run natively). */
    public CpuKernels cpuKernels() {
        return kernels;
    }

    public WorkerPool pool() {
        return pool;
    }

    @Override
    public int threads() {
        return pool.threads();
    }

    /** Activation rows from which {@link #matmul} uses the GEMM kernels. */
    public static int gemmMinRows() {
        return GEMM_MIN_ROWS;
    }

    /**
     * A matrix-vector product over weight-row quads, as a reusable task object: one per calling thread, so a decode
     * step's products create no task objects ({@link WorkerPool#parallelFor} returns only once no worker holds it).
     */
    private final class MatVecTask implements WorkerPool.RangeTask {
        private Weight w;
        private float[] xp;
        private int batch;
        private float[] out;
        private int outOff;
        private int outStride;
        /** The quantized activations of the native int8 kernel, or null. */
        private byte[] xq;
        private float[] xs;
        /** The bf16-rounded activations of the native bf16 kernel, or null. */
        private short[] xb;

        MatVecTask set(Weight w, float[] xp, int batch, float[] out, int outOff, int outStride) {
            return set(w, xp, null, null, batch, out, outOff, outStride);
        }

        MatVecTask set(Weight w, float[] xp, byte[] xq, float[] xs, int batch, float[] out, int outOff,
                       int outStride) {
            this.w = w;
            this.xp = xp;
            this.xq = xq;
            this.xs = xs;
            this.xb = null;
            this.batch = batch;
            this.out = out;
            this.outOff = outOff;
            this.outStride = outStride;
            return this;
        }

        MatVecTask setBf16(Weight w, short[] xb, int batch, float[] out, int outOff, int outStride) {
            set(w, null, null, null, batch, out, outOff, outStride);
            this.xb = xb;
            return this;
        }

        void clear() {
            w = null;
            xp = null;
            xb = null;
            xq = null;
            xs = null;
            out = null;
        }

        @Override
        public void run(int q0, int q1) {
            if (xb != null) {
                NativeBf16.rows(w, 4 * q0, Math.min(w.rows(), 4 * q1), xb, 0, batch, out, outOff, outStride, false,
                        false);
                return;
            }
            if (xq != null) {
                NativeInt8.rows(w, 4 * q0, Math.min(w.rows(), 4 * q1), xq, 0, xs, 0, batch, out, outOff, outStride,
                        false);
                return;
            }
            int cols = w.cols();
            MatVecKernels.rows(w, 4 * q0, Math.min(w.rows(), 4 * q1), xp, 0, cols, batch, out, outOff, outStride,
                    false, scratch().row(MatVecKernels.scratchFloats(cols)));
        }
    }

    KernelScratch scratch() {
        return scratch.get();
    }

    /** Groups of 4 weight rows per chunk so the 4-row kernels see whole quads. */
    private static int quadGrain(Weight w) {
        return Math.max(1, CHUNK_BYTES / Math.max(1, 4 * w.cols() * w.dtype().bytes()));
    }

    @Override
    public void matmul(Weight w, float[] x, int xOff, int xStride, float[] out, int outOff, int outStride, int batch) {
        if (batch <= 0) {
            return;
        }
        int rows = w.rows();
        if (nativeInt8 && w.isInt8()) {
            // Any batch: the native kernel reads each 4-row weight block once for every activation row, and beats
            // the Java int8 GEMM from batch 16 to prefill (docs/int8.md, "Native int8 for every batch").
            nativeMatVec(w, x, xOff, xStride, out, outOff, outStride, batch);
            return;
        }
        if (nativeBf16 && w.dtype() == DType.BF16) {
            // Any batch: from 8 activation rows the native kernel runs its register-tiled GEMM form.
            nativeBf16MatVec(w, x, xOff, xStride, out, outOff, outStride, batch);
            return;
        }
        if (batch < GEMM_MIN_ROWS) {
            int quads = (rows + 3) / 4;
            int cols = w.cols();
            float[] xp = scratch().pack(batch * cols);
            for (int b = 0; b < batch; b++) {
                MatVecKernels.toPairOrder(x, xOff + b * xStride, cols, xp, b * cols);
            }
            if (pool.busy()) {
                // Inside a parallel region (e.g. one head's product of the attention): run here, no task object.
                MatVecKernels.rows(w, 0, rows, xp, 0, cols, batch, out, outOff, outStride, false,
                        scratch().row(MatVecKernels.scratchFloats(cols)));
                return;
            }
            MatVecTask t = matVecTask.get().set(w, xp, batch, out, outOff, outStride);
            try {
                pool.parallelFor(quads, quadGrain(w), t);
            } finally {
                t.clear();
            }
            return;
        }
        int k = w.cols();
        float[] xP = scratch().pack(GemmKernels.packedSize(batch, k));
        pool.parallelFor((batch + BLOCK - 1) / BLOCK, 1, (b0, b1) ->
                GemmKernels.packBlocks(x, xOff, xStride, null, 0, batch, k, xP, 0, b0, b1));
        int groups = (rows + GROUP_ROWS - 1) / GROUP_ROWS;
        pool.parallelFor(groups, 1, (g0, g1) -> {
            for (int g = g0; g < g1; g++) {
                gemmGroup(w, g * GROUP_ROWS, xP, batch, out, outOff, outStride);
            }
        });
    }

    /** {@link #matmul}'s matrix-vector path on the native kernel: activations quantized once, rows in chunks. */
    private void nativeMatVec(Weight w, float[] x, int xOff, int xStride, float[] out, int outOff, int outStride,
                              int batch) {
        int cols = w.cols();
        byte[] xq = scratch().codes(batch * cols);
        float[] xs = scratch().codeScales(NativeInt8.scaleCount(batch, cols));
        NativeInt8.quantize(x, xOff, xStride, batch, cols, false, xq, 0, xs, 0);
        if (pool.busy()) {
            NativeInt8.rows(w, 0, w.rows(), xq, 0, xs, 0, batch, out, outOff, outStride, false);
            return;
        }
        MatVecTask t = matVecTask.get().set(w, null, xq, xs, batch, out, outOff, outStride);
        try {
            pool.parallelFor((w.rows() + 3) / 4, quadGrain(w), t);
        } finally {
            t.clear();
        }
    }

    /** {@link #matmul}'s matrix-vector path on the native bf16 kernel: activations rounded once, rows in chunks. */
    private void nativeBf16MatVec(Weight w, float[] x, int xOff, int xStride, float[] out, int outOff, int outStride,
                                  int batch) {
        int cols = w.cols();
        short[] xb = scratch().halves(batch * cols);
        NativeBf16.round(x, xOff, xStride, batch, cols, false, xb, 0);
        if (pool.busy()) {
            NativeBf16.rows(w, 0, w.rows(), xb, 0, batch, out, outOff, outStride, false, false);
            return;
        }
        MatVecTask t = matVecTask.get().setBf16(w, xb, batch, out, outOff, outStride);
        try {
            pool.parallelFor((w.rows() + 3) / 4, quadGrain(w), t);
        } finally {
            t.clear();
        }
    }

    /** Output rows {@code [r0, r0 + GROUP_ROWS)} of a GEMM over packed activations, stored row-major. */
    private void gemmGroup(Weight w, int r0, float[] xP, int m, float[] out, int outOff, int outStride) {
        KernelScratch s = scratch();
        int k = w.cols();
        int count = Math.min(GROUP_ROWS, w.rows() - r0);
        int padded = GemmKernels.paddedRows(count);
        float[] pw = s.widen(GROUP_ROWS * k);
        float[] acc = s.acc(GemmKernels.accSize(m));
        GemmKernels.widenRows(w, r0, count, padded, pw);
        GemmKernels.groupProduct(pw, padded, k, xP, 0, m, acc);
        for (int b0 = 0; b0 < m; b0 += BLOCK) {
            int nb = Math.min(GemmKernels.blockWidth(m, b0), m - b0);
            int base = GemmKernels.accIndex(b0, 0);
            for (int j = 0; j < nb; j++) {
                int o = outOff + (b0 + j) * outStride + r0;
                for (int i = 0, t = base + j; i < count; i++, t += BLOCK) {
                    out[o + i] = acc[t];
                }
            }
        }
    }

    @Override
    public void matmulTransposed(Weight w, float[] x, int xOff, int xStride, float[] out, int outOff, int outStride,
                                 int batch) {
        int cols = w.cols();
        if (w.isInt8()) {
            if (pool.busy()) {
                Int8Kernels.transposedColumns(w, 0, cols, x, xOff, xStride, out, outOff, outStride, batch,
                        scratch().row(Int8Kernels.transposedScratch(0, cols)));
                return;
            }
            pool.parallelFor(cols / MatVecKernels.P, Math.max(1, 16384 / Math.max(1, w.rows() * MatVecKernels.P)),
                    (u0, u1) -> Int8Kernels.transposedColumns(w, u0 * MatVecKernels.P, u1 * MatVecKernels.P, x, xOff,
                            xStride, out, outOff, outStride, batch,
                            scratch().row(Int8Kernels.transposedScratch(u0 * MatVecKernels.P, u1 * MatVecKernels.P))));
            return;
        }
        if (pool.busy()) {
            TransposedKernels.columns(w, 0, cols, x, xOff, xStride, out, outOff, outStride, batch);
            return;
        }
        int units = (cols + 2 * L - 1) / (2 * L);
        pool.parallelFor(units, Math.max(1, 16384 / Math.max(1, w.rows() * 2 * L)), (u0, u1) ->
                TransposedKernels.columns(w, u0 * 2 * L, Math.min(cols, u1 * 2 * L), x, xOff, xStride, out, outOff,
                        outStride, batch));
    }

    @Override
    public void swiGlu(ExpertGroups eg, float[] x, int xOff, float[] out, int outOff) {
        swiGlu.run(eg, x, xOff, out, outOff);
    }

    @Override
    public void causalAttention(float[] q, int qOff, int qStride, int nq, int dk,
                                float[] kT, int kTOff, int kTStride, int nk,
                                float[] v, int vOff, int vStride, int dv,
                                int causalOffset, float scale, float[] out, int outOff, int outStride) {
        float[] s = scratch().scores(AttentionKernels.causalScratch(nk));
        AttentionKernels.causal(q, qOff, qStride, nq, dk, kT, kTOff, kTStride, nk, v, vOff, vStride, dv,
                causalOffset, scale, out, outOff, outStride, s);
    }

    @Override
    public void pagedAttention(float[] q, int qOff, int qStride, int nq, int dk, float[] cache, int[] offs,
                               int offsOff, int n, int dv, float scale, float[] out, int outOff, int outStride) {
        float[] s = scratch().scores(AttentionKernels.pagedScratch(nq, n));
        AttentionKernels.paged(q, qOff, qStride, nq, dk, cache, offs, offsOff, n, dv, scale, out, outOff, outStride,
                s);
    }

    @Override
    public void softmax(float[] v, int off, int n) {
        AttentionKernels.softmax(v, off, n);
    }

    @Override
    public void rmsNorm(float[] x, int xOff, float[] weight, float eps, float[] out, int outOff) {
        AttentionKernels.rmsNorm(x, xOff, weight, eps, out, outOff);
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        return MatVecKernels.dot(a, aOff, b, bOff, n);
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        MatVecKernels.axpy(alpha, x, xOff, y, yOff, n);
    }

    @Override
    public void readRow(Weight w, int row, float[] out, int outOff) {
        GemmKernels.widenRow(w, row, out, outOff);
    }

    @Override
    public void parallelFor(int n, int grain, WorkerPool.RangeTask task) {
        pool.parallelFor(n, grain, task);
    }

    @Override
    public void close() {
        pool.close();
    }
}
