package dev.dsv2.engine.model;

import dev.dsv2.engine.cache.CacheSequence;
import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Weight;

import static dev.dsv2.engine.model.Workspace.IntSlot.ABSORBED_ROWS;
import static dev.dsv2.engine.model.Workspace.IntSlot.CONTEXT_OFFSETS;
import static dev.dsv2.engine.model.Workspace.IntSlot.CONTEXT_STARTS;
import static dev.dsv2.engine.model.Workspace.Slot.ATTN_GATHERED;
import static dev.dsv2.engine.model.Workspace.Slot.ATTN_OUT;
import static dev.dsv2.engine.model.Workspace.Slot.CTX_LATENT;
import static dev.dsv2.engine.model.Workspace.Slot.KV_A;
import static dev.dsv2.engine.model.Workspace.Slot.KEYS_T;
import static dev.dsv2.engine.model.Workspace.Slot.KV_EXPANDED;
import static dev.dsv2.engine.model.Workspace.Slot.LATENT_CTX;
import static dev.dsv2.engine.model.Workspace.Slot.Q;
import static dev.dsv2.engine.model.Workspace.Slot.Q_A;
import static dev.dsv2.engine.model.Workspace.Slot.Q_GATHERED;
import static dev.dsv2.engine.model.Workspace.Slot.Q_LATENT;

/**
 * Multi-head latent attention (MLA) of DeepSeek-V2, the reference {@code DeepseekV2Attention}.
 *
 * <h2>Glossary (V2-Lite numbers)</h2>
 * <pre>
 *   R      rows of the batch            H   heads (16)              D  hidden (2048)
 *   Cq     q_lora_rank (V2: 1536)       Ckv kv_lora_rank (512)
 *   dn     qk_nope_head_dim (128)       dr  qk_rope_head_dim (64)   dv v_head_dim (128)   dq = dn + dr
 *   c_kv   normalised latent [Ckv]      k_pe shared rotated rope key [dr]  -- the cache holds [c_kv | k_pe] = 576
 *   W_UK   rows of kv_b_proj giving head h's nope key:   [dn, Ckv]
 *   W_UV   rows of kv_b_proj giving head h's value:      [dv, Ckv]
 * </pre>
 * q = q_proj(x) or q_b_proj(norm(q_a_proj(x))): [R, H*dq], per head [q_nope dn | q_pe dr]; kv_a_proj_with_mqa(x) =
 * [compressed_kv Ckv | k_pe dr]; c_kv = kv_a_layernorm(compressed_kv). Scores = (q_nope·k_nope + q_pe·k_pe) * scale,
 * scale = dq^-0.5 * mscale², causal, softmax, then Σ p·v and o_proj.
 *
 * <p><b>Expanded</b> (prefill): k_nope/v of every context token = kv_b_proj(c_kv) [T, H*(dn+dv)], ordinary attention.
 * <b>Absorbed</b> (decode): q_lat = W_UKᵀ q_nope [Ckv]; score_t = q_lat·c_kv_t + q_pe·k_pe_t; ctx = Σ p_t c_kv_t [Ckv];
 * out_h = W_UV ctx [dv]. Keys and values are never materialised.
 */
public final class MlaAttention {
    private final Weight qProj;      // [H*dq, D], or null with q-LoRA
    private final Weight qA;         // [Cq, D]
    private final RmsNorm qANorm;    // [Cq]
    private final Weight qB;         // [H*dq, Cq]
    private final Weight kvA;        // [Ckv + dr, D]
    private final RmsNorm kvANorm;   // [Ckv]
    private final Weight kvB;        // [H*(dn+dv), Ckv]
    private final Weight[] wUk;      // per head [dn, Ckv]
    private final Weight[] wUv;      // per head [dv, Ckv]
    private final Weight oProj;      // [D, H*dv]
    private final int heads;
    private final int dn;
    private final int dr;
    private final int dv;
    private final int dq;
    private final int ckv;
    private final float scale;

    public MlaAttention(ModelConfig c, Weight qProj, Weight qA, RmsNorm qANorm, Weight qB, Weight kvA, RmsNorm kvANorm,
                        Weight kvB, Weight oProj) {
        this.qProj = qProj;
        this.qA = qA;
        this.qANorm = qANorm;
        this.qB = qB;
        this.kvA = kvA;
        this.kvANorm = kvANorm;
        this.kvB = kvB;
        this.oProj = oProj;
        this.heads = c.numAttentionHeads();
        this.dn = c.qkNopeHeadDim();
        this.dr = c.qkRopeHeadDim();
        this.dv = c.vHeadDim();
        this.dq = c.qHeadDim();
        this.ckv = c.kvLoraRank();
        this.scale = (float) c.softmaxScale();
        this.wUk = new Weight[heads];
        this.wUv = new Weight[heads];
        for (int h = 0; h < heads; h++) {
            wUk[h] = kvB.rowSlice(h * (dn + dv), dn);
            wUv[h] = kvB.rowSlice(h * (dn + dv) + dn, dv);
        }
    }

    /** Heads per decode attention task: they share every latent cache entry they load. */
    private static final int DECODE_HEAD_GROUP = 8;
    /** Queries per prefill attention task. */
    private static final int PREFILL_QUERY_BLOCK = 32;

    /**
     * Attention of every row of {@code batch}: writes each row's latent into {@code cache} (layer {@code layer}) and
     * leaves the o_proj output in {@code out [R, D]}.
     *
     * @param x      normalised hidden states [R, D]
     * @param ropeCs per row, {@link RotaryEmbedding#bufferSize()} floats of cos/sin at the row's position
     */
    public void forward(Backend be, ForwardBatch batch, float[] x, float[] out, LatentKvCache cache, int layer,
                        RotaryEmbedding rope, float[] ropeCs, AttentionMode mode, Workspace ws) {
        int rows = batch.rows();
        float[] q = ws.get(Q, rows * heads * dq);
        if (qProj != null) {
            be.matmul(qProj, x, 0, q, 0, rows);
        } else {
            int cq = qA.rows();
            float[] qa = ws.get(Q_A, rows * cq);
            be.matmul(qA, x, 0, qa, 0, rows);
            qANorm.apply(be, qa, 0, cq, qa, 0, cq, rows);
            be.matmul(qB, qa, 0, q, 0, rows);
        }
        int kvaDim = ckv + dr;
        float[] kva = ws.get(KV_A, rows * kvaDim);
        be.matmul(kvA, x, 0, kva, 0, rows);

        float[] store = cache.layer(layer);
        int csSize = rope.bufferSize();
        for (int r = 0; r < rows; r++) {
            int off = cache.offset(batch.sequences()[r], batch.positions()[r]);
            kvANorm.apply(be, kva, r * kvaDim, kvaDim, store, off, ckv, 1);
            System.arraycopy(kva, r * kvaDim + ckv, store, off + ckv, dr);
            rope.rotate(store, off + ckv, ropeCs, r * csSize);
            for (int h = 0; h < heads; h++) {
                rope.rotate(q, (r * heads + h) * dq + dn, ropeCs, r * csSize);
            }
        }

        float[] attn = ws.get(ATTN_OUT, rows * heads * dv);
        int[] absorbedRows = ws.ints(ABSORBED_ROWS, rows);
        int nAbsorbed = 0;
        for (ForwardBatch.Segment seg : batch.segments()) {
            if (mode.absorbed(seg.length())) {
                for (int i = 0; i < seg.length(); i++) {
                    absorbedRows[nAbsorbed++] = seg.start() + i;
                }
            } else {
                expanded(be, seg, q, attn, cache, store, ws);
            }
        }
        if (nAbsorbed > 0) {
            absorbed(be, batch, absorbedRows, nAbsorbed, q, attn, cache, store, ws);
        }
        be.matmul(oProj, attn, 0, out, 0, rows);
    }

    /**
     * Decode form over the latent cache for rows {@code idx[0, n)}, all of them at once: per head, q_lat = W_UKᵀ q_nope
     * for every row (W_UK read once); per row, all heads attend over the shared latent entries (each entry loaded once
     * per head group); per head, W_UV ctx for every row.
     */
    private void absorbed(Backend be, ForwardBatch batch, int[] idx, int n, float[] q, float[] attn,
                          LatentKvCache cache, float[] store, Workspace ws) {
        int qRow = heads * dq;
        int qaDim = ckv + dr;
        float[] qn = ws.get(Q_GATHERED, n * qRow);
        for (int j = 0; j < n; j++) {
            System.arraycopy(q, idx[j] * qRow, qn, j * qRow, qRow);
        }
        int[] starts = ws.ints(CONTEXT_STARTS, n + 1);
        int total = 0;
        for (int j = 0; j < n; j++) {
            starts[j] = total;
            total += batch.positions()[idx[j]] + 1;
        }
        starts[n] = total;
        int[] offs = ws.ints(CONTEXT_OFFSETS, total);
        for (int j = 0; j < n; j++) {
            CacheSequence seq = batch.sequences()[idx[j]];
            for (int t = 0, len = starts[j + 1] - starts[j]; t < len; t++) {
                offs[starts[j] + t] = cache.offset(seq, t);
            }
        }
        float[] ag = ws.get(ATTN_GATHERED, n * heads * dv);
        AbsorbedTask task = ws.absorbedTask().set(this, be, qn, ws.get(Q_LATENT, n * heads * qaDim),
                ws.get(CTX_LATENT, n * heads * ckv), ag, n, store, offs, starts);
        try {
            be.parallelFor(heads, 1, task.phase(AbsorbedTask.QUERY_LATENT));
            be.parallelFor(n * ((heads + DECODE_HEAD_GROUP - 1) / DECODE_HEAD_GROUP), 1,
                    task.phase(AbsorbedTask.ATTEND));
            be.parallelFor(heads, 1, task.phase(AbsorbedTask.VALUE_OUT));
        } finally {
            task.clear();
        }
        for (int j = 0; j < n; j++) {
            System.arraycopy(ag, j * heads * dv, attn, idx[j] * heads * dv, heads * dv);
        }
    }

    /**
     * The three parallel phases of {@link #absorbed} as one reusable task object (kept in the {@link Workspace}, so a
     * decode step's attention creates no task objects): per head q_lat = W_UKᵀ q_nope plus the rope part; per row and
     * head group, attention over the latent cache; per head W_UV ctx.
     */
    static final class AbsorbedTask implements dev.dsv2.engine.kernel.cpu.WorkerPool.RangeTask {
        static final int QUERY_LATENT = 0;
        static final int ATTEND = 1;
        static final int VALUE_OUT = 2;

        private int phase;
        private MlaAttention a;
        private Backend be;
        private float[] qn;
        private float[] qa;
        private float[] ctx;
        private float[] ag;
        private int n;
        private float[] store;
        private int[] offs;
        private int[] starts;

        AbsorbedTask set(MlaAttention a, Backend be, float[] qn, float[] qa, float[] ctx, float[] ag, int n,
                         float[] store, int[] offs, int[] starts) {
            this.a = a;
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
            a = null;
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
            int heads = a.heads;
            int qaDim = a.ckv + a.dr;
            switch (phase) {
                case QUERY_LATENT -> {
                    int qRow = heads * a.dq;
                    for (int h = from; h < to; h++) {
                        be.matmulTransposed(a.wUk[h], qn, h * a.dq, qRow, qa, h * qaDim, heads * qaDim, n);
                        for (int j = 0; j < n; j++) {
                            System.arraycopy(qn, j * qRow + h * a.dq + a.dn, qa, (j * heads + h) * qaDim + a.ckv,
                                    a.dr);
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
                                starts[j + 1] - starts[j], a.ckv, a.scale, ctx, (j * heads + h0) * a.ckv, a.ckv);
                    }
                }
                case VALUE_OUT -> {
                    for (int h = from; h < to; h++) {
                        be.matmul(a.wUv[h], ctx, h * a.ckv, heads * a.ckv, ag, h * a.dv, heads * a.dv, n);
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
    private void expanded(Backend be, ForwardBatch.Segment seg, float[] q, float[] attn, LatentKvCache cache,
                          float[] store, Workspace ws) {
        int ctxLen = seg.endPos();
        int[] offs = contextOffsets(cache, seg.sequence(), ctxLen, ws);
        float[] lat = ws.get(LATENT_CTX, ctxLen * ckv);
        for (int t = 0; t < ctxLen; t++) {
            System.arraycopy(store, offs[t], lat, t * ckv, ckv);
        }
        int kvDim = heads * (dn + dv);
        float[] kv = ws.get(KV_EXPANDED, ctxLen * kvDim);
        be.matmul(kvB, lat, 0, kv, 0, ctxLen);
        float[] kT = ws.get(KEYS_T, heads * dq * ctxLen);
        be.parallelFor(heads, 1, (h0, h1) -> {
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
        int blocks = (seg.length() + PREFILL_QUERY_BLOCK - 1) / PREFILL_QUERY_BLOCK;
        int qRow = heads * dq;
        int oRow = heads * dv;
        be.parallelFor(heads * blocks, 1, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int h = u % heads;
                int i0 = (blocks - 1 - u / heads) * PREFILL_QUERY_BLOCK; // longest contexts first
                int nq = Math.min(PREFILL_QUERY_BLOCK, seg.length() - i0);
                int r = seg.start() + i0;
                be.causalAttention(q, r * qRow + h * dq, qRow, nq, dq, kT, h * dq * ctxLen, ctxLen, ctxLen,
                        kv, h * (dn + dv) + dn, kvDim, dv, seg.startPos() + i0, scale, attn, r * oRow + h * dv, oRow);
            }
        });
    }

    private static int[] contextOffsets(LatentKvCache cache, CacheSequence seq, int n, Workspace ws) {
        int[] offs = ws.ints(CONTEXT_OFFSETS, n);
        for (int t = 0; t < n; t++) {
            offs[t] = cache.offset(seq, t);
        }
        return offs;
    }

    /** Bytes of the attention weights a step reads (projections, kv_b, o_proj and the latent norms). */
    public long weightBytes() {
        long sum = kvA.byteSize() + kvB.byteSize() + oProj.byteSize() + kvANorm.byteSize();
        if (qProj != null) {
            sum += qProj.byteSize();
        } else {
            sum += qA.byteSize() + qANorm.byteSize() + qB.byteSize();
        }
        return sum;
    }
}
