package dev.dsv2.engine.cuda;

import dev.dsv2.engine.device.CudaProbe;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;
import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.MlaShape;
import dev.dsv2.engine.kernel.MoeRouting;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * On a GPU: every buffer operation of {@link CudaBackend} against the CPU backend on random inputs of tiny shapes,
 * one operation at a time, so that a parity failure of the whole model can be traced to its operation. Tolerance:
 * max |gpu - cpu| / rms(cpu) <= 1e-4 (float32 sums in another order), except the GEMM path (bf16 activations) 1e-2.
 * Skipped without a CUDA device.
 */
class CudaBackendOpsGpuTest {
    private static final double TOL = 1e-4;
    private static final double TOL_GEMM = 1e-2;
    private static final MlaShape MLA = new MlaShape(4, 32, 16, 32, 64, 0.125f);

    private static CudaBackend gpu;
    private static VectorBackend cpu;
    private static Arena arena;
    private final SplittableRandom random = new SplittableRandom(7);

    @BeforeAll
    static void open() {
        CudaProbe p = new JCudaSupport().probe();
        assumeTrue(p.available(), () -> "no CUDA device: " + p.unavailable());
        gpu = CudaBackend.open(p.devices().getFirst());
        cpu = new VectorBackend(2);
        arena = Arena.ofShared();
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
            cpu.close();
            arena.close();
        }
    }

    private float[] gaussian(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return v;
    }

    private Weight weight(int rows, int cols) {
        MemorySegment seg = arena.allocate(2L * rows * cols, 16);
        for (long i = 0; i < (long) rows * cols; i++) {
            seg.set(TensorView.LE_SHORT, 2 * i, Bf16.fromFloat((float) (random.nextDouble() * 0.2 - 0.1)));
        }
        Weight w = new Weight("w" + rows + "x" + cols, DType.BF16, rows, cols, seg);
        return gpu.weight(w, false, null);
    }

    private static Buffer on(Backend be, float[] host) {
        Buffer b = be.allocate(host.length);
        be.upload(host, 0, b, 0, host.length);
        return b;
    }

    private static float[] back(Backend be, Buffer b) {
        float[] v = new float[(int) b.length()];
        be.download(b, 0, v, 0, v.length);
        return v;
    }

    private static void assertClose(float[] want, float[] got, double tol, String what) {
        double ss = 0;
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            ss += (double) want[i] * want[i];
            worst = Math.max(worst, Math.abs(want[i] - got[i]));
        }
        double rms = Math.sqrt(ss / Math.max(1, want.length));
        double err = worst / Math.max(rms, 1e-30);
        assertTrue(err <= tol, what + ": max |gpu - cpu| / rms(cpu) = " + err + " > " + tol);
    }

    @Test
    void matmulOnTheGemvAndTheGemmPath() {
        Weight w = weight(96, 128);
        for (int rows : new int[]{1, 8, 13, 64, 70}) {
            float[] x = gaussian(rows * 128);
            Buffer cx = on(cpu, x);
            Buffer gx = on(gpu, x);
            Buffer co = cpu.allocate(rows * 96L);
            Buffer go = gpu.allocate(rows * 96L);
            cpu.matmul(w, cx, co, rows);
            gpu.matmul(w, gx, go, rows);
            assertClose(back(cpu, co), back(gpu, go), rows <= CudaBackend.GEMV_ROWS ? TOL : TOL_GEMM,
                    "matmul of " + rows + " rows");
        }
    }

    @Test
    void embedNormsAndResidual() {
        Weight table = weight(50, 64);
        int[] tokens = {3, 49, 0, 3};
        Buffer ce = cpu.allocate(4 * 64);
        Buffer ge = gpu.allocate(4 * 64);
        cpu.embed(table, tokens, 4, ce);
        gpu.embed(table, tokens, 4, ge);
        assertArrayEquals(back(cpu, ce), back(gpu, ge), "embed is an exact widening");

        float[] w = gaussian(64);
        Buffer cw = cpu.constant(w);
        Buffer gw = gpu.constant(w);
        Buffer cn = cpu.allocate(4 * 64);
        Buffer gn = gpu.allocate(4 * 64);
        cpu.rmsNorm(ce, 0, 64, cw, 64, 1e-6f, cn, 0, 64, 4);
        gpu.rmsNorm(ge, 0, 64, gw, 64, 1e-6f, gn, 0, 64, 4);
        assertClose(back(cpu, cn), back(gpu, gn), TOL, "rmsNorm");
        int[] rows = {2, 0};
        cpu.rmsNormRows(ce, rows, 2, cw, 64, 1e-6f, cn);
        gpu.rmsNormRows(ge, rows, 2, gw, 64, 1e-6f, gn);
        assertClose(back(cpu, cn), back(gpu, gn), TOL, "rmsNormRows");
        cpu.addResidual(cn, ce, 4 * 64);
        gpu.addResidual(gn, ge, 4 * 64);
        assertClose(back(cpu, ce), back(gpu, ge), TOL, "addResidual");
    }

    @Test
    void mlaCacheWriteThenAbsorbedAndExpandedAttention() {
        MlaShape s = MLA;
        int rows = 6;
        int entry = s.entry();
        int qRow = s.heads() * s.qHead();
        Weight kvB = weight(s.heads() * (s.nope() + s.value()), s.latent());
        Weight[] uk = new Weight[s.heads()];
        Weight[] uv = new Weight[s.heads()];
        for (int h = 0; h < s.heads(); h++) {
            uk[h] = kvB.rowSlice(h * (s.nope() + s.value()), s.nope());
            uv[h] = kvB.rowSlice(h * (s.nope() + s.value()) + s.nope(), s.value());
        }
        float[] kva = gaussian(rows * entry);
        float[] q = gaussian(rows * qRow);
        float[] norm = gaussian(s.latent());
        float[] invFreq = new float[s.rope() / 2];
        for (int i = 0; i < invFreq.length; i++) {
            invFreq[i] = (float) Math.pow(10000, -2.0 * i / s.rope());
        }
        int[] positions = {0, 1, 2, 3, 4, 5};
        int[] slots = {5 * entry, 0, 3 * entry, 7 * entry, entry, 2 * entry}; // shuffled cache slots
        Backend[] bes = {cpu, gpu};
        float[][] cache = new float[2][];
        float[][] qOut = new float[2][];
        float[][] absorbed = new float[2][];
        float[][] expanded = new float[2][];
        for (int k = 0; k < 2; k++) {
            Backend be = bes[k];
            Buffer cs = be.allocate(rows * 2L * s.rope());
            be.ropeTables(invFreq, 1.1f, positions, rows, cs);
            Buffer qb = on(be, q);
            Buffer store = be.allocate(8L * entry);
            be.mlaCacheWrite(s, on(be, kva), rows, be.constant(norm), 1e-6f, cs, qb, store, slots);
            cache[k] = back(be, store);
            qOut[k] = back(be, qb);
            Buffer out = be.allocate((long) rows * s.heads() * s.value());
            int[] idx = {5, 2};
            int[] starts = {0, 6, 9};
            int[] offs = {slots[0], slots[1], slots[2], slots[3], slots[4], slots[5], slots[0], slots[1], slots[2]};
            be.mlaAbsorbed(s, uk, uv, qb, idx, 2, offs, starts, store, out);
            absorbed[k] = back(be, out);
            Buffer out2 = be.allocate((long) rows * s.heads() * s.value());
            be.mlaExpanded(s, kvB, qb, 1, 4, 2, slots, 6, store, out2);
            expanded[k] = back(be, out2);
        }
        assertClose(cache[0], cache[1], TOL, "mlaCacheWrite: the cache");
        assertClose(qOut[0], qOut[1], TOL, "mlaCacheWrite: q_pe rope");
        assertClose(absorbed[0], absorbed[1], TOL, "mlaAbsorbed");
        assertClose(expanded[0], expanded[1], TOL, "mlaExpanded");
    }

    @Test
    void moeGateAndGroupedExperts() {
        int rows = 5;
        int d = 64;
        MoeRouting r = new MoeRouting(16, 4, true, 4, 2, true, 1f);
        Weight gateW = weight(16, d);
        float[] x = gaussian(rows * d);
        int[][] ids = new int[2][rows * 4];
        float[][] wts = new float[2][rows * 4];
        cpu.moeGate(gateW, r, on(cpu, x), rows, ids[0], wts[0]);
        gpu.moeGate(gateW, r, on(gpu, x), rows, ids[1], wts[1]);
        assertArrayEquals(ids[0], ids[1], "gate ids");
        assertClose(wts[0], wts[1], TOL, "gate weights");

        Weight sg = weight(64, d);
        Weight sd = weight(d, 64);
        Weight eg = weight(32, d);
        Weight ed = weight(d, 32);
        ExpertGroups g = new ExpertGroups();
        g.addGroup(sg, sg, sd);
        for (int row = 0; row < rows; row++) {
            g.addRow(row, 1f);
        }
        g.addGroup(eg, eg, ed).addRow(1, 0.25f).addRow(4, 0.75f);
        float[] base = gaussian(rows * d);
        Buffer co = on(cpu, base);
        Buffer go = on(gpu, base);
        cpu.swiGlu(g, on(cpu, x), co);
        gpu.swiGlu(g, on(gpu, x), go);
        assertClose(back(cpu, co), back(gpu, go), TOL, "swiGlu (shared + routed runs)");
    }
}
