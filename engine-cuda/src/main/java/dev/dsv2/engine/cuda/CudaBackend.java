package dev.dsv2.engine.cuda;

import dev.dsv2.engine.device.CudaDevice;
import dev.dsv2.engine.device.DeviceUnavailableException;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;
import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.MlaShape;
import dev.dsv2.engine.kernel.MoeRouting;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.kernel.cpu.HostBackend;
import jcuda.Pointer;
import jcuda.Sizeof;

import java.lang.foreign.Arena;

import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD32;

/**
 * The {@link Backend} on one CUDA device (JCuda driver API, the kernels of {@code src/main/cuda}): activations, the
 * workspace and the paged latent cache are {@link CudaBuffer}s in device memory, weights are uploaded once bf16 as
 * stored ({@link DeviceWeights}), every buffer operation is a kernel launch, and host metadata (token ids, positions'
 * rope tables, cache slots, row indices, context offsets) goes up per call into reusable device scratch.
 *
 * <h2>Threading</h2>
 * One context (the device's primary context) and one stream (the legacy default stream, so copies and kernels run in
 * issue order) per backend. The methods may be called from any thread but from <b>one thread at a time</b> (the
 * serving engine runs a backend's forward passes on its scheduler thread); each method first makes the context
 * current on the calling thread ({@code cuCtxSetCurrent}). Copies to the host ({@link #download}, {@link #hostView},
 * the gate's routing ids) wait for the kernels before them.
 *
 * <h2>Numerics against the CPU backend</h2>
 * Matrix products of up to {@link #GEMV_ROWS} rows use the float32-activation GEMV (as the CPU); larger ones the
 * tensor-core GEMM, which rounds activations to bf16. Rope tables are computed on the host exactly as the CPU does
 * ({@link HostBackend#ropeTable}); sums run in a different order than on the CPU, so results agree to float rounding,
 * not bit for bit. The kernel self-check and the model parity probe ({@code DeviceSelector}) guard a device before it
 * serves.
 *
 * <p><b>Status: none of this has run on GPU hardware yet</b>; it is compiled and its host-side logic unit-tested.
 */
public final class CudaBackend implements Backend {
    /** Largest row count of a matrix product on the GEMV kernel (in passes of 8 rows); beyond it the GEMM. */
    static final int GEMV_ROWS = 64;

    private final CudaContext cx;
    private final CudaKernels k;
    private final ForwardKernels f;
    private final DeviceWeights weights = new DeviceWeights();
    private final DeviceScratch scratch = new DeviceScratch();
    private final CudaAttention attention;
    private final CudaExperts experts;
    private float[] ropeHost = new float[0];
    private boolean closed;

    private CudaBackend(CudaContext cx) {
        this.cx = cx;
        this.k = new CudaKernels(cx);
        this.f = new ForwardKernels(cx);
        this.attention = new CudaAttention(this, k, f, scratch);
        this.experts = new CudaExperts(this, k, scratch);
    }

    /**
     * Opens the backend on {@code device}: its primary context and every kernel module.
     *
     * @throws DeviceUnavailableException one line naming what is missing (no driver library, a module that does not
     *                                    load), never a stack trace
     */
    public static CudaBackend open(CudaDevice device) {
        try {
            return new CudaBackend(new CudaContext(device));
        } catch (LinkageError e) {
            throw new DeviceUnavailableException("cuda backend on " + device.describe() + ": the CUDA driver library "
                    + "could not be loaded (" + e.getMessage() + ")");
        } catch (RuntimeException e) {
            throw new DeviceUnavailableException("cuda backend on " + device.describe() + ": opening the context and "
                    + "loading the kernel modules failed: " + e.getMessage());
        }
    }

    @Override
    public String name() {
        return "cuda:" + cx.device().ordinal();
    }

    CudaDevice device() {
        return cx.device();
    }

    /** {@code {free, total}} bytes of device memory now ({@code cuMemGetInfo}). */
    @Override
    public long[] deviceMemory() {
        cx.makeCurrent();
        return cx.memoryInfo();
    }

    /** Device bytes of the uploaded weights. */
    public long weightBytes() {
        return weights.bytes();
    }

    DeviceBuffer mem(Buffer b) {
        return CudaBuffer.memory(b, this);
    }

    DeviceBuffer weightMemory(Weight w) {
        return weights.device(w);
    }

    void free(DeviceBuffer b) {
        if (!closed) {
            cx.makeCurrent();
            b.close();
        }
    }

    // ---- buffers and weights ----

    @Override
    public Buffer allocate(long floats) {
        cx.makeCurrent();
        if (floats == 0) {
            return new CudaBuffer(this, 0, null);
        }
        DeviceBuffer b = new DeviceBuffer(floats * Sizeof.FLOAT);
        cuMemsetD32(b.ptr(), 0, floats);
        return new CudaBuffer(this, floats, b);
    }

    @Override
    public void upload(float[] src, int srcOff, Buffer dst, long dstOff, int n) {
        cx.makeCurrent();
        if (n > 0) {
            cuMemcpyHtoD(mem(dst).slice(dstOff).ptr(), Pointer.to(src).withByteOffset((long) srcOff * Sizeof.FLOAT),
                    (long) n * Sizeof.FLOAT);
        }
    }

    @Override
    public void download(Buffer src, long srcOff, float[] dst, int dstOff, int n) {
        cx.makeCurrent();
        if (n > 0) {
            cuMemcpyDtoH(Pointer.to(dst).withByteOffset((long) dstOff * Sizeof.FLOAT), mem(src).slice(srcOff).ptr(),
                    (long) n * Sizeof.FLOAT);
        }
    }

    @Override
    public Buffer constant(float[] values) {
        Buffer b = allocate(values.length);
        upload(values, 0, b, 0, values.length);
        return b;
    }

    /** Uploads {@code stored} bf16 as stored; int8 (requested or stored) is refused with one clear line. */
    @Override
    public Weight weight(Weight stored, boolean quantizeInt8, Arena arena) {
        cx.makeCurrent();
        return weights.adopt(stored, quantizeInt8);
    }

    /** A fresh host array holding {@code b[0, n)} (a download; every call its own array). */
    @Override
    public float[] hostView(Buffer b, int n) {
        float[] v = new float[n];
        download(b, 0, v, 0, n);
        return v;
    }

    @Override
    public void commitHostView(float[] view, Buffer b, int n) {
        upload(view, 0, b, 0, n);
    }

    @Override
    public boolean hostMemory() {
        return false;
    }

    @Override
    public Buffer wrapHost(float[] host, int n) {
        Buffer b = allocate(n);
        upload(host, 0, b, 0, n);
        return b;
    }

    @Override
    public void unwrapHost(Buffer b, float[] host, int n) {
        download(b, 0, host, 0, n);
    }

    // ---- element-wise, norms, projections ----

    @Override
    public void zero(Buffer b, long off, long n) {
        cx.makeCurrent();
        if (n > 0) {
            cuMemsetD32(mem(b).slice(off).ptr(), 0, n);
        }
    }

    @Override
    public void embed(Weight table, int[] tokens, int rows, Buffer out) {
        cx.makeCurrent();
        DeviceBuffer ids = scratch.upload(DeviceScratch.Slot.METADATA, tokens, rows);
        f.embed(weights.device(table), table.cols(), ids, rows, mem(out));
    }

    /** The tables are computed on the host exactly as the CPU backend does, then copied up in one copy. */
    @Override
    public void ropeTables(float[] invFreq, float scale, int[] positions, int rows, Buffer cs) {
        int csSize = 4 * invFreq.length;
        if (ropeHost.length < rows * csSize) {
            ropeHost = new float[rows * csSize];
        }
        for (int r = 0; r < rows; r++) {
            HostBackend.ropeTable(invFreq, scale, positions[r], ropeHost, r * csSize);
        }
        upload(ropeHost, 0, cs, 0, rows * csSize);
    }

    @Override
    public void rmsNorm(Buffer x, int xOff, int xStride, Buffer weight, int dim, float eps, Buffer out, int outOff,
                        int outStride, int rows) {
        cx.makeCurrent();
        k.rmsNorm(mem(x).slice(xOff), xStride, mem(weight), eps, mem(out).slice(outOff), outStride, dim, rows);
    }

    @Override
    public void rmsNormRows(Buffer x, int[] rowIdx, int n, Buffer weight, int dim, float eps, Buffer out) {
        cx.makeCurrent();
        DeviceBuffer idx = scratch.upload(DeviceScratch.Slot.METADATA, rowIdx, n);
        DeviceBuffer o = mem(out);
        f.gatherRows(mem(x), dim, idx, n, dim, o, dim);
        k.rmsNorm(o, dim, mem(weight), eps, o, dim, dim, n);
    }

    @Override
    public void matmul(Weight w, Buffer x, Buffer out, int rows) {
        cx.makeCurrent();
        matmul(w, mem(x), mem(out), rows);
    }

    /** {@code out [rows, w.rows] = x [rows, w.cols] · Wᵀ} on device memory. */
    void matmul(Weight w, DeviceBuffer x, DeviceBuffer out, int rows) {
        DeviceBuffer wd = weights.device(w);
        int cols = w.cols();
        if (rows <= GEMV_ROWS) {
            for (int b0 = 0; b0 < rows; b0 += CudaKernels.GEMV_MAX_BATCH) {
                int b = Math.min(CudaKernels.GEMV_MAX_BATCH, rows - b0);
                k.gemv(x.slice((long) b0 * cols), cols, wd, w.rows(), cols, out.slice((long) b0 * w.rows()), w.rows(),
                        b);
            }
        } else {
            k.gemm(x, cols, wd, out, w.rows(), rows, w.rows(), cols);
        }
    }

    @Override
    public void addResidual(Buffer x, Buffer y, int n) {
        cx.makeCurrent();
        f.add(mem(x), mem(y), n);
    }

    // ---- MLA, MoE ----

    @Override
    public void mlaCacheWrite(MlaShape s, Buffer kva, int rows, Buffer kvNorm, float eps, Buffer cs, Buffer q,
                              Buffer cache, int[] slots) {
        cx.makeCurrent();
        attention.cacheWrite(s, kva, rows, kvNorm, eps, cs, q, cache, slots);
    }

    @Override
    public void mlaAbsorbed(MlaShape s, Weight[] wUk, Weight[] wUv, Buffer q, int[] rowIdx, int n, int[] ctxOffsets,
                            int[] ctxStarts, Buffer cache, Buffer out) {
        cx.makeCurrent();
        attention.absorbed(s, wUk, wUv, q, rowIdx, n, ctxOffsets, ctxStarts, cache, out);
    }

    @Override
    public void mlaExpanded(MlaShape s, Weight kvB, Buffer q, int start, int length, int startPos, int[] ctxOffsets,
                            int ctxLen, Buffer cache, Buffer out) {
        cx.makeCurrent();
        attention.expanded(s, kvB, q, start, length, startPos, ctxOffsets, ctxLen, cache, out);
    }

    @Override
    public void moeGate(Weight w, MoeRouting routing, Buffer x, int rows, int[] ids, float[] weights) {
        cx.makeCurrent();
        experts.gate(w, routing, mem(x), rows, ids, weights);
    }

    @Override
    public void swiGlu(ExpertGroups groups, Buffer x, Buffer out) {
        cx.makeCurrent();
        experts.swiGlu(groups, mem(x), mem(out));
    }

    /** Waits for every launched kernel (tests, timing); a kernel fault surfaces here. */
    public void synchronize() {
        cx.makeCurrent();
        cx.synchronize();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        cx.makeCurrent();
        try {
            scratch.close();
            weights.close();
        } finally {
            closed = true;
            cx.close();
        }
    }
}
