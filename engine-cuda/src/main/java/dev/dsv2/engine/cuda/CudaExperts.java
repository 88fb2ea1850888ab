package dev.dsv2.engine.cuda;

import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.MoeRouting;
import dev.dsv2.engine.kernel.Weight;
import jcuda.Pointer;
import jcuda.Sizeof;

import java.util.Arrays;

import static dev.dsv2.engine.cuda.DeviceScratch.Slot;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;

/**
 * The MoE operations of {@link CudaBackend}: the gate (logits and softmax + top-k on the device; only the ids and
 * weights come back) and the grouped SwiGLU experts (swiglu.cu with each group's uploaded weights).
 */
final class CudaExperts {
    private final CudaBackend be;
    private final CudaKernels k;
    private final DeviceScratch scratch;

    CudaExperts(CudaBackend be, CudaKernels k, DeviceScratch scratch) {
        this.be = be;
        this.k = k;
        this.scratch = scratch;
    }

    void gate(Weight w, MoeRouting g, DeviceBuffer x, int rows, int[] ids, float[] weights) {
        int experts = g.experts();
        int n = rows * g.topK();
        DeviceBuffer logits = scratch.get(Slot.GATE_LOGITS, (long) rows * experts);
        be.matmul(w, x, logits, rows);
        DeviceBuffer idsDev = scratch.get(Slot.GATE_IDS, n);
        DeviceBuffer wDev = scratch.get(Slot.GATE_WEIGHTS, n);
        k.gateTopK(logits, rows, experts, g.topK(), g.groupLimited(), g.groups(), g.topkGroup(), g.normTopkProb(),
                g.scalingFactor(), idsDev, wDev);
        cuMemcpyDtoH(Pointer.to(ids), idsDev.ptr(), (long) n * Sizeof.INT);
        cuMemcpyDtoH(Pointer.to(weights), wDev.ptr(), (long) n * Sizeof.FLOAT);
    }

    /**
     * Runs of consecutive groups with the same intermediate size (swiglu.cu takes one per launch): group indices
     * {@code [runs[i], runs[i + 1])}. Shared experts and routed experts differ; routed ones share one size.
     */
    static int[] runsOfEqualSize(ExpertGroups groups) {
        int n = groups.groupCount();
        int[] runs = new int[n + 1];
        int count = 0;
        for (int g = 0; g < n; g++) {
            if (g == 0 || groups.gate(g).rows() != groups.gate(g - 1).rows()) {
                runs[count++] = g;
            }
        }
        runs[count++] = n;
        return Arrays.copyOf(runs, count);
    }

    /**
     * {@code out[row] += scale · expert(x[row])} group by group, in the CPU's order of groups (each run's combine adds
     * its entries into {@code out} row by row in entry order).
     */
    void swiGlu(ExpertGroups groups, DeviceBuffer x, DeviceBuffer out) {
        if (groups.entryCount() == 0) {
            return;
        }
        int d = groups.hiddenSize();
        int[] runs = runsOfEqualSize(groups);
        for (int i = 0; i + 1 < runs.length; i++) {
            int g0 = runs[i];
            int g1 = runs[i + 1];
            int e0 = groups.start(g0);
            int entries = groups.start(g1) - e0;
            if (entries == 0) {
                continue;
            }
            int[] starts = new int[g1 - g0 + 1];
            DeviceBuffer[] gate = new DeviceBuffer[g1 - g0];
            DeviceBuffer[] up = new DeviceBuffer[g1 - g0];
            DeviceBuffer[] down = new DeviceBuffer[g1 - g0];
            for (int g = g0; g < g1; g++) {
                starts[g - g0] = groups.start(g) - e0;
                gate[g - g0] = be.weightMemory(groups.gate(g));
                up[g - g0] = be.weightMemory(groups.up(g));
                down[g - g0] = be.weightMemory(groups.down(g));
            }
            starts[g1 - g0] = entries;
            int[] rows = new int[entries];
            float[] scales = new float[entries];
            for (int e = 0; e < entries; e++) {
                rows[e] = groups.row(e0 + e);
                scales[e] = groups.scale(e0 + e);
            }
            try (SwiGluPlan plan = SwiGluPlan.build(starts, rows, scales, gate, up, down, d,
                    groups.gate(g0).rows())) {
                k.swiGlu(x, d, groups.gate(g0).rows(), plan, out);
                be.synchronize(); // the plan's device arrays are freed next
            }
        }
    }
}
