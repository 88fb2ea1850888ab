package dev.dsv2.engine.model;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Weight;

import static dev.dsv2.engine.model.Workspace.Slot.ATTN_OUT;
import static dev.dsv2.engine.model.Workspace.Slot.CTX_LATENT;
import static dev.dsv2.engine.model.Workspace.Slot.KV_A;
import static dev.dsv2.engine.model.Workspace.Slot.KV_EXPANDED;
import static dev.dsv2.engine.model.Workspace.Slot.LATENT_CTX;
import static dev.dsv2.engine.model.Workspace.Slot.Q;
import static dev.dsv2.engine.model.Workspace.Slot.Q_A;
import static dev.dsv2.engine.model.Workspace.Slot.Q_LATENT;
import static dev.dsv2.engine.model.Workspace.Slot.SCORES;

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
            qANorm.apply(qa, 0, cq, qa, 0, cq, rows);
            be.matmul(qB, qa, 0, q, 0, rows);
        }
        int kvaDim = ckv + dr;
        float[] kva = ws.get(KV_A, rows * kvaDim);
        be.matmul(kvA, x, 0, kva, 0, rows);

        float[] store = cache.layer(layer);
        int csSize = rope.bufferSize();
        for (int r = 0; r < rows; r++) {
            int off = cache.offset(batch.sequences()[r], batch.positions()[r]);
            kvANorm.apply(kva, r * kvaDim, kvaDim, store, off, ckv, 1);
            System.arraycopy(kva, r * kvaDim + ckv, store, off + ckv, dr);
            rope.rotate(store, off + ckv, ropeCs, r * csSize);
            for (int h = 0; h < heads; h++) {
                rope.rotate(q, (r * heads + h) * dq + dn, ropeCs, r * csSize);
            }
        }

        float[] attn = ws.get(ATTN_OUT, rows * heads * dv);
        for (ForwardBatch.Segment seg : batch.segments()) {
            if (mode.absorbed(seg.length())) {
                for (int i = 0; i < seg.length(); i++) {
                    absorbed(be, batch, seg.start() + i, q, attn, cache, store, ws);
                }
            } else {
                expanded(be, seg, q, attn, cache, store, ws);
            }
        }
        be.matmul(oProj, attn, 0, out, 0, rows);
    }

    /** Decode form over the latent cache for row {@code r}. */
    private void absorbed(Backend be, ForwardBatch batch, int r, float[] q, float[] attn, LatentKvCache cache,
                          float[] store, Workspace ws) {
        var seq = batch.sequences()[r];
        int ctxLen = batch.positions()[r] + 1;
        float[] qLat = ws.get(Q_LATENT, heads * ckv);
        float[] ctx = ws.get(CTX_LATENT, heads * ckv);
        float[] scores = ws.get(SCORES, heads * ctxLen);
        int[] offs = contextOffsets(cache, seq, ctxLen, ws);
        be.parallelFor(heads, 1, (h0, h1) -> {
            for (int h = h0; h < h1; h++) {
                int qOff = (r * heads + h) * dq;
                be.matmulTransposed(wUk[h], q, qOff, qLat, h * ckv);
                int sOff = h * ctxLen;
                for (int t = 0; t < ctxLen; t++) {
                    int off = offs[t];
                    float s = be.dot(qLat, h * ckv, store, off, ckv) + be.dot(q, qOff + dn, store, off + ckv, dr);
                    scores[sOff + t] = s * scale;
                }
                softmax(scores, sOff, ctxLen);
                java.util.Arrays.fill(ctx, h * ckv, (h + 1) * ckv, 0f);
                for (int t = 0; t < ctxLen; t++) {
                    be.axpy(scores[sOff + t], store, offs[t], ctx, h * ckv, ckv);
                }
                be.matmul(wUv[h], ctx, h * ckv, attn, (r * heads + h) * dv, 1);
            }
        });
    }

    /** Prefill form: expand the latent of the whole context into per-head keys and values. */
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
        float[] scores = ws.get(SCORES, heads * ctxLen);
        be.parallelFor(heads, 1, (h0, h1) -> {
            for (int h = h0; h < h1; h++) {
                int sOff = h * ctxLen;
                for (int i = 0; i < seg.length(); i++) {
                    int r = seg.start() + i;
                    int n = seg.startPos() + i + 1;
                    int qOff = (r * heads + h) * dq;
                    for (int t = 0; t < n; t++) {
                        float s = be.dot(q, qOff, kv, t * kvDim + h * (dn + dv), dn)
                                + be.dot(q, qOff + dn, store, offs[t] + ckv, dr);
                        scores[sOff + t] = s * scale;
                    }
                    softmax(scores, sOff, n);
                    int oOff = (r * heads + h) * dv;
                    java.util.Arrays.fill(attn, oOff, oOff + dv, 0f);
                    for (int t = 0; t < n; t++) {
                        be.axpy(scores[sOff + t], kv, t * kvDim + h * (dn + dv) + dn, attn, oOff, dv);
                    }
                }
            }
        });
    }

    private static int[] contextOffsets(LatentKvCache cache, dev.dsv2.engine.cache.CacheSequence seq, int n,
                                        Workspace ws) {
        int[] offs = ws.ints(n);
        for (int t = 0; t < n; t++) {
            offs[t] = cache.offset(seq, t);
        }
        return offs;
    }

    /** In-place softmax of {@code v[off, off + n)} (max-subtracted, float32 values, double sum). */
    static void softmax(float[] v, int off, int n) {
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
}
