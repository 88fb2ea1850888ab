package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;
import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.HostBuffer;
import dev.dsv2.engine.kernel.MlaShape;
import dev.dsv2.engine.kernel.MoeRouting;
import dev.dsv2.engine.kernel.Weight;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.function.IntConsumer;

/**
 * The buffer operations of {@link Backend} for backends that compute in host memory (the Vector API backend and the
 * scalar oracle), built from their array kernels: buffers are {@link HostBuffer}s, so every operation runs on the
 * arrays themselves with no copies. Parallel phases go through {@link #parallelFor}, sequential here and on the
 * scalar oracle, on the worker pool in {@link VectorBackend}. Intermediates of one operation (gathered queries,
 * expanded keys and values, gate scores) live in per-thread scratch, grown on demand and kept, so a decode step
 * allocates nothing.
 */
public abstract class HostBackend implements Backend, HostKernels {
    /** Heads per decode attention task: they share every latent cache entry they load. */
    private static final int DECODE_HEAD_GROUP = 8;
    /** Queries per prefill attention task. */
    private static final int PREFILL_QUERY_BLOCK = 32;

    private final ThreadLocal<OpScratch> opScratch = ThreadLocal.withInitial(OpScratch::new);

    /**
     * Runs {@code task} over {@code [0, n)}, in parallel where the backend has threads. Kernels called from inside
     * the task run on the calling thread.
     */
    public void parallelFor(int n, int grain, WorkerPool.RangeTask task) {
        task.run(0, n);
    }

    @Override
    public void forEachOnHost(int n, IntConsumer body) {
        parallelFor(n, 1, (from, to) -> {
            for (int i = from; i < to; i++) {
                body.accept(i);
            }
        });
    }

    /** {@link #parallelFor} of {@code be} when it is a host backend, else sequentially on this thread. */
    public static void parallelFor(Backend be, int n, int grain, WorkerPool.RangeTask task) {
        if (be instanceof HostBackend h) {
            h.parallelFor(n, grain, task);
        } else {
            task.run(0, n);
        }
    }

    private static float[] array(Buffer b) {
        return HostBuffer.array(b);
    }

    // ---- buffers and weights ----

    @Override
    public Buffer allocate(long floats) {
        return HostBuffer.allocate(this, floats);
    }

    @Override
    public void upload(float[] src, int srcOff, Buffer dst, long dstOff, int n) {
        System.arraycopy(src, srcOff, array(dst), Math.toIntExact(dstOff), n);
    }

    @Override
    public void download(Buffer src, long srcOff, float[] dst, int dstOff, int n) {
        System.arraycopy(array(src), Math.toIntExact(srcOff), dst, dstOff, n);
    }

    @Override
    public Buffer constant(float[] values) {
        return new HostBuffer(this, values);
    }

    @Override
    public Weight weight(Weight stored, boolean quantizeInt8, Arena arena) {
        return quantizeInt8 ? Int8Quantizer.quantize(stored, arena, this) : stored;
    }

    @Override
    public float[] hostView(Buffer b, int n) {
        return array(b);
    }

    @Override
    public void commitHostView(float[] view, Buffer b, int n) {
    }

    @Override
    public boolean hostMemory() {
        return true;
    }

    @Override
    public Buffer wrapHost(float[] host, int n) {
        return new HostBuffer(this, host);
    }

    @Override
    public void unwrapHost(Buffer b, float[] host, int n) {
        float[] a = array(b);
        if (a != host) {
            System.arraycopy(a, 0, host, 0, n);
        }
    }

    // ---- element-wise, norms, projections ----

    @Override
    public void zero(Buffer b, long off, long n) {
        Arrays.fill(array(b), Math.toIntExact(off), Math.toIntExact(off + n), 0f);
    }

    @Override
    public void embed(Weight table, int[] tokens, int rows, Buffer out) {
        float[] o = array(out);
        int d = table.cols();
        for (int r = 0; r < rows; r++) {
            readRow(table, tokens[r], o, r * d);
        }
    }

    @Override
    public void ropeTables(float[] invFreq, float scale, int[] positions, int rows, Buffer cs) {
        float[] c = array(cs);
        int csSize = 4 * invFreq.length;
        for (int r = 0; r < rows; r++) {
            ropeTable(invFreq, scale, positions[r], c, r * csSize);
        }
    }

    /**
     * The rope table of one position: cos and sin of every frequency, scaled, into {@code cs[csOff, csOff + half)}
     * and {@code cs[csOff + half, csOff + 2·half)} ({@code half = invFreq.length}).
     */
    public static void ropeTable(float[] invFreq, float scale, int position, float[] cs, int csOff) {
        int half = invFreq.length;
        for (int i = 0; i < half; i++) {
            float angle = (float) position * invFreq[i];
            cs[csOff + i] = (float) Math.cos(angle) * scale;
            cs[csOff + half + i] = (float) Math.sin(angle) * scale;
        }
    }

    @Override
    public void rmsNorm(Buffer x, int xOff, int xStride, Buffer weight, int dim, float eps, Buffer out, int outOff,
                        int outStride, int rows) {
        float[] xa = array(x);
        float[] w = array(weight);
        float[] o = array(out);
        for (int r = 0; r < rows; r++) {
            rmsNorm(xa, xOff + r * xStride, w, eps, o, outOff + r * outStride);
        }
    }

    @Override
    public void rmsNormRows(Buffer x, int[] rowIdx, int n, Buffer weight, int dim, float eps, Buffer out) {
        float[] xa = array(x);
        float[] w = array(weight);
        float[] o = array(out);
        for (int i = 0; i < n; i++) {
            rmsNorm(xa, rowIdx[i] * dim, w, eps, o, i * dim);
        }
    }

    @Override
    public void matmul(Weight w, Buffer x, Buffer out, int rows) {
        matmul(w, array(x), 0, array(out), 0, rows);
    }

    @Override
    public void addResidual(Buffer x, Buffer y, int n) {
        axpy(1f, array(x), 0, array(y), 0, n);
    }

    @Override
    public void swiGlu(ExpertGroups groups, Buffer x, Buffer out) {
        swiGlu(groups, array(x), 0, array(out), 0);
    }

    // ---- MLA ----

    @Override
    public void mlaCacheWrite(MlaShape s, Buffer kva, int rows, Buffer kvNorm, float eps, Buffer cs, Buffer q,
                              Buffer cache, int[] slots) {
        float[] kv = array(kva);
        float[] w = array(kvNorm);
        float[] c = array(cs);
        float[] qa = array(q);
        float[] store = array(cache);
        int kvaDim = s.entry();
        int ckv = s.latent();
        int dr = s.rope();
        int dq = s.qHead();
        int csSize = 2 * dr;
        for (int r = 0; r < rows; r++) {
            int off = slots[r];
            rmsNorm(kv, r * kvaDim, w, eps, store, off);
            System.arraycopy(kv, r * kvaDim + ckv, store, off + ckv, dr);
            rotate(dr, store, off + ckv, c, r * csSize);
            for (int h = 0; h < s.heads(); h++) {
                rotate(dr, qa, (r * s.heads() + h) * dq + s.nope(), c, r * csSize);
            }
        }
    }

    /**
     * Rotates {@code v[off, off + dim)} in place given the rope table of its position ({@code cs} of {@code 2·dim}
     * floats from {@code csOff}; the second half is the temporary): the reference's interleaved pairs regrouped as
     * halves, then rotate-half.
     */
    public static void rotate(int dim, float[] v, int off, float[] cs, int csOff) {
        int half = dim / 2;
        float[] u = cs;
        int t = csOff + dim;
        for (int i = 0; i < half; i++) {
            float a = v[off + 2 * i];
            float b = v[off + 2 * i + 1];
            float c = cs[csOff + i];
            float s = cs[csOff + half + i];
            u[t + i] = a * c - b * s;
            u[t + half + i] = b * c + a * s;
        }
        System.arraycopy(u, t, v, off, dim);
    }

    /**
     * Decode form over the latent cache for rows {@code idx[0, n)}, all of them at once: per head, q_lat = W_UKᵀ q_nope
     * for every row (W_UK read once); per row, all heads attend over the shared latent entries (each entry loaded once
     * per head group); per head, W_UV ctx for every row.
     */
    @Override
    public void mlaAbsorbed(MlaShape s, Weight[] wUk, Weight[] wUv, Buffer q, int[] idx, int n, int[] offs,
                            int[] starts, Buffer cache, Buffer out) {
        float[] qa = array(q);
        float[] attn = array(out);
        float[] store = array(cache);
        int heads = s.heads();
        int qRow = heads * s.qHead();
        int qaDim = s.entry();
        OpScratch sc = opScratch.get();
        float[] qn = sc.qGathered = KernelScratch.grow(sc.qGathered, n * qRow);
        for (int j = 0; j < n; j++) {
            System.arraycopy(qa, idx[j] * qRow, qn, j * qRow, qRow);
        }
        float[] ag = sc.attnGathered = KernelScratch.grow(sc.attnGathered, n * heads * s.value());
        sc.qLatent = KernelScratch.grow(sc.qLatent, n * heads * qaDim);
        sc.ctxLatent = KernelScratch.grow(sc.ctxLatent, n * heads * s.latent());
        AbsorbedTask task = sc.absorbedTask.set(s, wUk, wUv, this, qn, sc.qLatent, sc.ctxLatent, ag, n, store, offs,
                starts);
        try {
            parallelFor(heads, 1, task.phase(AbsorbedTask.QUERY_LATENT));
            parallelFor(n * ((heads + DECODE_HEAD_GROUP - 1) / DECODE_HEAD_GROUP), 1,
                    task.phase(AbsorbedTask.ATTEND));
            parallelFor(heads, 1, task.phase(AbsorbedTask.VALUE_OUT));
        } finally {
            task.clear();
        }
        int oRow = heads * s.value();
        for (int j = 0; j < n; j++) {
            System.arraycopy(ag, j * oRow, attn, idx[j] * oRow, oRow);
        }
    }

    /**
     * The three parallel phases of {@link #mlaAbsorbed} as one reusable task object (per thread, so a decode step's
     * attention creates no task objects): per head q_lat = W_UKᵀ q_nope plus the rope part; per row and head group,
     * attention over the latent cache; per head W_UV ctx.
     */
    static final class AbsorbedTask implements WorkerPool.RangeTask {
        static final int QUERY_LATENT = 0;
        static final int ATTEND = 1;
        static final int VALUE_OUT = 2;

        private int phase;
        private MlaShape s;
        private Weight[] wUk;
        private Weight[] wUv;
        private HostKernels be;
        private float[] qn;
        private float[] qa;
        private float[] ctx;
        private float[] ag;
        private int n;
        private float[] store;
        private int[] offs;
        private int[] starts;

        AbsorbedTask set(MlaShape s, Weight[] wUk, Weight[] wUv, HostKernels be, float[] qn, float[] qa, float[] ctx,
                         float[] ag, int n, float[] store, int[] offs, int[] starts) {
            this.s = s;
            this.wUk = wUk;
            this.wUv = wUv;
            this.be = be;
            this.qn = qn;
            this.qa = qa;
            this.ctx = ctx;
            this.ag = ag;
            this.n = n;
            this.store = store;
            this.offs = offs;
            this.starts = starts;
            return this;
        }

        AbsorbedTask phase(int phase) {
            this.phase = phase;
            return this;
        }

        /** Drops the references to the pass's buffers and weights. */
        void clear() {
            s = null;
            wUk = null;
            wUv = null;
            be = null;
            qn = null;
            qa = null;
            ctx = null;
            ag = null;
            store = null;
            offs = null;
            starts = null;
        }

        @Override
        public void run(int from, int to) {
            int heads = s.heads();
            int ckv = s.latent();
            int dq = s.qHead();
            int dv = s.value();
            int qaDim = s.entry();
            switch (phase) {
                case QUERY_LATENT -> {
                    int qRow = heads * dq;
                    for (int h = from; h < to; h++) {
                        be.matmulTransposed(wUk[h], qn, h * dq, qRow, qa, h * qaDim, heads * qaDim, n);
                        for (int j = 0; j < n; j++) {
                            System.arraycopy(qn, j * qRow + h * dq + s.nope(), qa, (j * heads + h) * qaDim + ckv,
                                    s.rope());
                        }
                    }
                }
                case ATTEND -> {
                    int groupsPerRow = (heads + DECODE_HEAD_GROUP - 1) / DECODE_HEAD_GROUP;
                    for (int u = from; u < to; u++) {
                        int j = u / groupsPerRow;
                        int h0 = (u % groupsPerRow) * DECODE_HEAD_GROUP;
                        int nh = Math.min(DECODE_HEAD_GROUP, heads - h0);
                        be.pagedAttention(qa, (j * heads + h0) * qaDim, qaDim, nh, qaDim, store, offs, starts[j],
                                starts[j + 1] - starts[j], ckv, s.scale(), ctx, (j * heads + h0) * ckv, ckv);
                    }
                }
                case VALUE_OUT -> {
                    for (int h = from; h < to; h++) {
                        be.matmul(wUv[h], ctx, h * ckv, heads * ckv, ag, h * dv, heads * dv, n);
                    }
                }
                default -> throw new IllegalStateException("unknown attention phase " + phase);
            }
        }
    }

    /**
     * Prefill form: expand the latent of the whole context into per-head keys and values ({@code kv_b_proj}), lay
     * each head's keys out transposed {@code [dq, T]} (nope part from the expansion, rope part from the cache), then
     * run causal attention in parallel over heads × query blocks.
     */
    @Override
    public void mlaExpanded(MlaShape s, Weight kvB, Buffer qBuf, int start, int length, int startPos, int[] offs,
                            int ctxLen, Buffer cache, Buffer out) {
        float[] q = array(qBuf);
        float[] attn = array(out);
        float[] store = array(cache);
        int heads = s.heads();
        int dn = s.nope();
        int dr = s.rope();
        int dv = s.value();
        int dq = s.qHead();
        int ckv = s.latent();
        float scale = s.scale();
        OpScratch sc = opScratch.get();
        float[] lat = sc.latentCtx = KernelScratch.grow(sc.latentCtx, ctxLen * ckv);
        for (int t = 0; t < ctxLen; t++) {
            System.arraycopy(store, offs[t], lat, t * ckv, ckv);
        }
        int kvDim = heads * (dn + dv);
        float[] kv = sc.kvExpanded = KernelScratch.grow(sc.kvExpanded, ctxLen * kvDim);
        matmul(kvB, lat, 0, kv, 0, ctxLen);
        float[] kT = sc.keysT = KernelScratch.grow(sc.keysT, heads * dq * ctxLen);
        parallelFor(heads, 1, (h0, h1) -> {
            for (int h = h0; h < h1; h++) {
                int base = h * dq * ctxLen;
                for (int t = 0; t < ctxLen; t++) {
                    int src = t * kvDim + h * (dn + dv);
                    for (int d = 0; d < dn; d++) {
                        kT[base + d * ctxLen + t] = kv[src + d];
                    }
                    int pe = offs[t] + ckv;
                    for (int d = 0; d < dr; d++) {
                        kT[base + (dn + d) * ctxLen + t] = store[pe + d];
                    }
                }
            }
        });
        int blocks = (length + PREFILL_QUERY_BLOCK - 1) / PREFILL_QUERY_BLOCK;
        int qRow = heads * dq;
        int oRow = heads * dv;
        parallelFor(heads * blocks, 1, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int h = u % heads;
                int i0 = (blocks - 1 - u / heads) * PREFILL_QUERY_BLOCK; // longest contexts first
                int nq = Math.min(PREFILL_QUERY_BLOCK, length - i0);
                int r = start + i0;
                causalAttention(q, r * qRow + h * dq, qRow, nq, dq, kT, h * dq * ctxLen, ctxLen, ctxLen,
                        kv, h * (dn + dv) + dn, kvDim, dv, startPos + i0, scale, attn, r * oRow + h * dv, oRow);
            }
        });
    }

    // ---- MoE gate ----

    @Override
    public void moeGate(Weight w, MoeRouting g, Buffer x, int rows, int[] ids, float[] weights) {
        int experts = g.experts();
        OpScratch sc = opScratch.get();
        float[] logits = sc.gateLogits = KernelScratch.grow(sc.gateLogits, rows * experts);
        matmul(w, array(x), 0, logits, 0, rows);
        for (int r = 0; r < rows; r++) {
            int off = r * experts;
            softmax(logits, off, experts);
            if (g.groupLimited()) {
                maskGroups(g, logits, off, sc.groupScores = KernelScratch.grow(sc.groupScores, g.groups()));
            }
            selectTopK(g, logits, off, ids, weights, r * g.topK());
            finishWeights(g, weights, r * g.topK());
        }
    }

    /**
     * Zeroes the scores of every expert outside the {@code topk_group} best groups (by max score); {@code groupMax}
     * is scratch of {@code groups} floats (a picked group is marked NaN).
     */
    private static void maskGroups(MoeRouting g, float[] scores, int off, float[] groupMax) {
        int groups = g.groups();
        int perGroup = g.experts() / groups;
        for (int gi = 0; gi < groups; gi++) {
            float m = Float.NEGATIVE_INFINITY;
            for (int e = 0; e < perGroup; e++) {
                m = Math.max(m, scores[off + gi * perGroup + e]);
            }
            groupMax[gi] = m;
        }
        for (int k = 0; k < g.topkGroup(); k++) {
            int best = -1;
            for (int gi = 0; gi < groups; gi++) {
                if (!Float.isNaN(groupMax[gi]) && (best < 0 || groupMax[gi] > groupMax[best])) {
                    best = gi;
                }
            }
            groupMax[best] = Float.NaN;
        }
        for (int gi = 0; gi < groups; gi++) {
            if (!Float.isNaN(groupMax[gi])) {
                Arrays.fill(scores, off + gi * perGroup, off + (gi + 1) * perGroup, 0f);
            }
        }
    }

    private static void selectTopK(MoeRouting g, float[] scores, int off, int[] ids, float[] weights, int outOff) {
        for (int k = 0; k < g.topK(); k++) {
            int best = -1;
            for (int e = 0; e < g.experts(); e++) {
                if (best < 0 || scores[off + e] > scores[off + best]) {
                    if (!taken(ids, outOff, k, e)) {
                        best = e;
                    }
                }
            }
            ids[outOff + k] = best;
            weights[outOff + k] = scores[off + best];
        }
    }

    private static boolean taken(int[] ids, int off, int k, int e) {
        for (int i = 0; i < k; i++) {
            if (ids[off + i] == e) {
                return true;
            }
        }
        return false;
    }

    private static void finishWeights(MoeRouting g, float[] w, int off) {
        int topK = g.topK();
        if (topK > 1 && g.normTopkProb()) {
            float sum = 0f;
            for (int k = 0; k < topK; k++) {
                sum += w[off + k];
            }
            float denom = sum + 1e-20f;
            for (int k = 0; k < topK; k++) {
                w[off + k] /= denom;
            }
        } else {
            for (int k = 0; k < topK; k++) {
                w[off + k] *= g.scalingFactor();
            }
        }
    }

    // ---- scratch ----

    /** Per-thread intermediates of the operations above. */
    private static final class OpScratch {
        float[] qGathered = new float[0];
        float[] qLatent = new float[0];
        float[] ctxLatent = new float[0];
        float[] attnGathered = new float[0];
        float[] latentCtx = new float[0];
        float[] kvExpanded = new float[0];
        float[] keysT = new float[0];
        float[] gateLogits = new float[0];
        float[] groupScores = new float[0];
        final AbsorbedTask absorbedTask = new AbsorbedTask();
    }
}
