package dev.dsv2.engine.model;

import dev.dsv2.engine.cache.CacheSequence;
import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;
import dev.dsv2.engine.kernel.MlaShape;
import dev.dsv2.engine.kernel.Weight;

import static dev.dsv2.engine.model.Workspace.IntSlot.ABSORBED_ROWS;
import static dev.dsv2.engine.model.Workspace.IntSlot.CACHE_SLOTS;
import static dev.dsv2.engine.model.Workspace.IntSlot.CONTEXT_OFFSETS;
import static dev.dsv2.engine.model.Workspace.IntSlot.CONTEXT_STARTS;
import static dev.dsv2.engine.model.Workspace.Slot.ATTN_OUT;
import static dev.dsv2.engine.model.Workspace.Slot.KV_A;
import static dev.dsv2.engine.model.Workspace.Slot.Q;
import static dev.dsv2.engine.model.Workspace.Slot.Q_A;


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
    private final MlaShape shape;

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
        int dn = c.qkNopeHeadDim();
        int dv = c.vHeadDim();
        this.shape = new MlaShape(heads, dn, c.qkRopeHeadDim(), dv, c.kvLoraRank(), (float) c.softmaxScale());
        this.wUk = new Weight[heads];
        this.wUv = new Weight[heads];
        for (int h = 0; h < heads; h++) {
            wUk[h] = kvB.rowSlice(h * (dn + dv), dn);
            wUv[h] = kvB.rowSlice(h * (dn + dv) + dn, dv);
        }
    }

    /**
     * Attention of every row of {@code batch}: writes each row's latent into {@code cache} (layer {@code layer}) and
     * leaves the o_proj output in {@code out [R, D]}.
     *
     * @param x      normalised hidden states [R, D]
     * @param ropeCs per row, {@link RotaryEmbedding#bufferSize()} floats of rope tables at the row's position
     */
    public void forward(Backend be, ForwardBatch batch, Buffer x, Buffer out, LatentKvCache cache, int layer,
                        Buffer ropeCs, AttentionMode mode, Workspace ws) {
        int rows = batch.rows();
        Buffer q = ws.get(Q, (long) rows * heads * shape.qHead());
        if (qProj != null) {
            be.matmul(qProj, x, q, rows);
        } else {
            int cq = qA.rows();
            Buffer qa = ws.get(Q_A, (long) rows * cq);
            be.matmul(qA, x, qa, rows);
            qANorm.apply(be, qa, 0, cq, qa, 0, cq, rows);
            be.matmul(qB, qa, q, rows);
        }
        Buffer kva = ws.get(KV_A, (long) rows * shape.entry());
        be.matmul(kvA, x, kva, rows);

        Buffer store = cache.layer(layer);
        int[] slots = ws.ints(CACHE_SLOTS, rows);
        for (int r = 0; r < rows; r++) {
            slots[r] = cache.offset(batch.sequences()[r], batch.positions()[r]);
        }
        be.mlaCacheWrite(shape, kva, rows, kvANorm.weight(), kvANorm.eps(), ropeCs, q, store, slots);

        Buffer attn = ws.get(ATTN_OUT, (long) rows * heads * shape.value());
        int[] absorbedRows = ws.ints(ABSORBED_ROWS, rows);
        int nAbsorbed = 0;
        for (ForwardBatch.Segment seg : batch.segments()) {
            if (mode.absorbed(seg.length())) {
                for (int i = 0; i < seg.length(); i++) {
                    absorbedRows[nAbsorbed++] = seg.start() + i;
                }
            } else {
                int ctxLen = seg.endPos();
                int[] offs = contextOffsets(cache, seg.sequence(), ctxLen, ws);
                be.mlaExpanded(shape, kvB, q, seg.start(), seg.length(), seg.startPos(), offs, ctxLen, store, attn);
            }
        }
        if (nAbsorbed > 0) {
            absorbed(be, batch, absorbedRows, nAbsorbed, q, attn, cache, store, ws);
        }
        be.matmul(oProj, attn, out, rows);
    }

    /**
     * Decode form over the latent cache for rows {@code idx[0, n)}, all of them at once: the rows' cache offsets
     * (host metadata), then the backend's absorbed attention (W_UK absorb, paged attention, W_UV).
     */
    private void absorbed(Backend be, ForwardBatch batch, int[] idx, int n, Buffer q, Buffer attn,
                          LatentKvCache cache, Buffer store, Workspace ws) {
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
        be.mlaAbsorbed(shape, wUk, wUv, q, idx, n, offs, starts, store, attn);
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
