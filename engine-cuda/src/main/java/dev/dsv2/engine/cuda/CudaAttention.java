package dev.dsv2.engine.cuda;

import dev.dsv2.engine.kernel.Buffer;
import dev.dsv2.engine.kernel.MlaShape;
import dev.dsv2.engine.kernel.Weight;

import static dev.dsv2.engine.cuda.DeviceScratch.Slot;

/**
 * The MLA operations of {@link CudaBackend}, ported from {@code HostBackend} (same layouts, rope permutation and
 * softmax scale). Glossary as {@link MlaShape}: H heads, dn nope, dr rope, dq = dn + dr, dv value, Ckv latent; a cache
 * entry is {@code [c_kv | k_pe]} (Ckv + dr floats) at a float offset into the layer's cache buffer.
 *
 * <ul>
 *   <li>cache write: forward.cu {@code mla_cache_write} (kv_a norm, k_pe and q_pe rope) with the rows' slots.</li>
 *   <li>absorbed decode: gather the rows' queries; {@code q_lat = W_UKᵀ q_nope} per head (gemv_t_bf16_heads) plus
 *       the q_pe copy; split-K paged attention over the offset list (mla_decode_partial_offsets + combine);
 *       {@code W_UV ctx} per head (gemv_bf16_heads); scatter into the output rows.</li>
 *   <li>expanded prefill: gather the context's latents, expand them by {@code kv_b} (one matmul), lay the keys out
 *       {@code [T, H, dq]} (nope from the expansion, rope from the cache), causal attention
 *       (prefill_attention_f32).</li>
 * </ul>
 */
final class CudaAttention {
    /** Tokens per split of the split-K decode attention. */
    static final int DECODE_CHUNK = 256;

    private final CudaBackend be;
    private final CudaKernels k;
    private final ForwardKernels f;
    private final DeviceScratch scratch;
    private final IntPack pack = new IntPack();

    CudaAttention(CudaBackend be, CudaKernels k, ForwardKernels f, DeviceScratch scratch) {
        this.be = be;
        this.k = k;
        this.f = f;
        this.scratch = scratch;
    }

    void cacheWrite(MlaShape s, Buffer kva, int rows, Buffer kvNorm, float eps, Buffer cs, Buffer q, Buffer cache,
                    int[] slots) {
        DeviceBuffer slotsDev = scratch.upload(Slot.METADATA, slots, rows);
        f.mlaCacheWrite(be.mem(kva), s.entry(), be.mem(kvNorm), eps, be.mem(cs), be.mem(q), s.heads(), s.qHead(),
                s.nope(), be.mem(cache), slotsDev, s.latent(), s.rope(), rows);
    }

    /** Splits of {@link #DECODE_CHUNK} tokens that cover the longest row of {@code starts[0, n]}. */
    static int splits(int[] starts, int n) {
        int longest = 1;
        for (int j = 0; j < n; j++) {
            longest = Math.max(longest, starts[j + 1] - starts[j]);
        }
        return (longest + DECODE_CHUNK - 1) / DECODE_CHUNK;
    }

    /**
     * Whether the per-head weights are consecutive row blocks of one {@code kv_b [H·(dn+dv), Ckv]} (as
     * {@code MlaAttention} slices them), so each projection is one launch over all heads.
     */
    static boolean oneMatrix(MlaShape s, long[] ukAddresses, long[] uvAddresses) {
        long rowBytes = 2L * s.latent();
        long base = ukAddresses[0];
        for (int h = 0; h < s.heads(); h++) {
            long head = base + (long) h * (s.nope() + s.value()) * rowBytes;
            if (ukAddresses[h] != head || uvAddresses[h] != head + s.nope() * rowBytes) {
                return false;
            }
        }
        return true;
    }

    void absorbed(MlaShape s, Weight[] wUk, Weight[] wUv, Buffer qBuf, int[] idx, int n, int[] offs, int[] starts,
                  Buffer cache, Buffer out) {
        int heads = s.heads();
        int dq = s.qHead();
        int dn = s.nope();
        int ckv = s.latent();
        int dv = s.value();
        int qRow = heads * dq;
        int qaDim = s.entry();
        int oRow = heads * dv;
        int total = starts[n];
        pack.clear();
        int idxAt = pack.add(idx, n);
        int startsAt = pack.add(starts, n + 1);
        int offsAt = pack.add(offs, total);
        DeviceBuffer meta = scratch.upload(Slot.METADATA, pack.array(), pack.size());

        DeviceBuffer qn = scratch.get(Slot.Q_GATHERED, (long) n * qRow);
        f.gatherRows(be.mem(qBuf), qRow, meta.slice(idxAt), n, qRow, qn, qRow);
        DeviceBuffer qLat = scratch.get(Slot.Q_LATENT, (long) n * heads * qaDim);
        long[] uk = new long[heads];
        long[] uv = new long[heads];
        for (int h = 0; h < heads; h++) {
            uk[h] = DeviceWeights.address(wUk[h]);
            uv[h] = DeviceWeights.address(wUv[h]);
        }
        boolean fused = oneMatrix(s, uk, uv);
        if (fused) {
            k.gemvTransposedHeads(qn, qRow, dq, be.weightMemory(wUk[0]), ckv, dn + dv, 0, dn, qLat, heads * qaDim,
                    qaDim, n, heads);
        } else {
            for (int h = 0; h < heads; h++) {
                k.gemvTransposedHeads(qn.slice((long) h * dq), qRow, 0, be.weightMemory(wUk[h]), ckv, 0, 0, dn,
                        qLat.slice((long) h * qaDim), heads * qaDim, 0, n, 1);
            }
        }
        // q_pe of every (row, head) after its latent query: vector v = j·H + h, from v·dq + dn to v·qaDim + Ckv
        f.gatherRows(qn.slice(dn), dq, null, n * heads, s.rope(), qLat.slice(ckv), qaDim);

        int splits = splits(starts, n);
        long parts = (long) n * heads * splits;
        DeviceBuffer ctx = scratch.get(Slot.CTX_LATENT, (long) n * heads * ckv);
        f.mlaDecodeOffsets(qLat, heads * qaDim, qaDim, be.mem(cache), meta.slice(offsAt), meta.slice(startsAt), qaDim,
                ckv, heads, s.scale(), n, splits, DECODE_CHUNK, scratch.get(Slot.PART_ACC, parts * ckv),
                scratch.get(Slot.PART_MAX, parts), scratch.get(Slot.PART_SUM, parts), ctx, heads * ckv, ckv);

        DeviceBuffer ag = scratch.get(Slot.ATTN_GATHERED, (long) n * oRow);
        if (fused) {
            k.gemvHeads(ctx, heads * ckv, ckv, be.weightMemory(wUk[0]), ckv, dn + dv, dn, dv, ag, oRow, dv, n, heads);
        } else {
            for (int h = 0; h < heads; h++) {
                k.gemvHeads(ctx.slice((long) h * ckv), heads * ckv, 0, be.weightMemory(wUv[h]), ckv, 0, 0, dv,
                        ag.slice((long) h * dv), oRow, 0, n, 1);
            }
        }
        f.scatterRows(ag, oRow, meta.slice(idxAt), n, oRow, be.mem(out), oRow);
    }

    void expanded(MlaShape s, Weight kvB, Buffer qBuf, int start, int length, int startPos, int[] offs, int ctxLen,
                  Buffer cacheBuf, Buffer outBuf) {
        int heads = s.heads();
        int dn = s.nope();
        int dr = s.rope();
        int dv = s.value();
        int dq = s.qHead();
        int ckv = s.latent();
        int kvDim = heads * (dn + dv);
        DeviceBuffer cache = be.mem(cacheBuf);
        DeviceBuffer offsDev = scratch.upload(Slot.METADATA, offs, ctxLen);
        DeviceBuffer lat = scratch.get(Slot.LATENT, (long) ctxLen * ckv);
        f.gatherOffsets(cache, offsDev, ctxLen, ckv, lat, ckv);
        DeviceBuffer kv = scratch.get(Slot.KV_EXPANDED, (long) ctxLen * kvDim);
        be.matmul(kvB, lat, kv, ctxLen);
        DeviceBuffer keys = scratch.get(Slot.KEYS, (long) ctxLen * heads * dq);
        f.mlaExpandKeys(kv, dn, dv, cache, offsDev, ckv, dr, heads, ctxLen, keys);
        int qRow = heads * dq;
        int oRow = heads * dv;
        k.prefillAttention(be.mem(qBuf).slice((long) start * qRow), qRow, dq, keys, heads * dq, dq, kv.slice(dn), kvDim,
                dn + dv, length, ctxLen, dq, dv, startPos, s.scale(), be.mem(outBuf).slice((long) start * oRow), oRow,
                dv, heads);
    }
}
