package dev.dsv2.engine.kernel.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import static dev.dsv2.engine.kernel.cpu.Lanes.F;
import static dev.dsv2.engine.kernel.cpu.Lanes.L;

/**
 * Vectorised attention pieces: scores, softmax and the probability-weighted sum of values.
 *
 * <p>Prefill ({@link #causal}): keys come transposed ({@code kT [dk, nk]}), so scores of {@value #QB} queries × 2
 * vectors of keys accumulate as outer products (one key-vector load feeds {@value #QB} FMAs, no reductions). The
 * weighted sum runs 4 queries × 4 value vectors at a time. Decode ({@link #paged}): all heads of a row share the
 * latent keys, so each cache entry is loaded once per 4 heads.
 */
final class AttentionKernels {
    /** Queries per score tile. */
    static final int QB = 8;

    private AttentionKernels() {
    }

    /** Scratch floats {@link #causal} needs for {@code nk} keys. */
    static int causalScratch(int nk) {
        return QB * nk;
    }

    static void causal(float[] q, int qOff, int qStride, int nq, int dk, float[] kT, int kTOff, int kTStride, int nk,
                       float[] v, int vOff, int vStride, int dv, int causalOffset, float scale,
                       float[] out, int outOff, int outStride, float[] s) {
        for (int i0 = 0; i0 < nq; i0 += QB) {
            int qn = Math.min(QB, nq - i0);
            int nMax = Math.min(nk, causalOffset + i0 + qn);
            scores(q, qOff + i0 * qStride, qStride, qn, dk, kT, kTOff, kTStride, nMax, nk, scale, s, nk);
            for (int i = 0; i < qn; i++) {
                int n = Math.min(nk, causalOffset + i0 + i + 1);
                softmax(s, i * nk, n);
                java.util.Arrays.fill(s, i * nk + n, i * nk + nMax, 0f);
            }
            weightedSum(s, 0, nk, qn, nMax, v, vOff, vStride, null, 0, dv, out, outOff + i0 * outStride, outStride);
        }
    }

    /**
     * {@code s[i·sStride + t] = scale · Σ_d q[qOff + i·qStride + d] · kT[kTOff + d·kTStride + t]}, i < qn ≤ QB,
     * t < n; whole vectors of keys up to {@code rowLength} may be computed past n (the caller ignores them).
     */
    private static void scores(float[] q, int qOff, int qStride, int qn, int dk, float[] kT, int kTOff, int kTStride,
                               int n, int rowLength, float scale, float[] s, int sStride) {
        int last = qn - 1;
        int t0 = 0;
        for (; t0 < n && t0 + 2 * L <= rowLength; t0 += 2 * L) {
            scoreTile(q, qOff, qOff + Math.min(1, last) * qStride, qOff + Math.min(2, last) * qStride,
                    qOff + Math.min(3, last) * qStride, qOff + Math.min(4, last) * qStride,
                    qOff + Math.min(5, last) * qStride, qOff + Math.min(6, last) * qStride,
                    qOff + Math.min(7, last) * qStride, dk, kT, kTOff + t0, kTStride, scale, s, t0, sStride, qn);
        }
        for (; t0 < n && t0 + L <= rowLength; t0 += L) {
            for (int i = 0; i < qn; i++) {
                int qi = qOff + i * qStride;
                FloatVector acc = FloatVector.zero(F);
                for (int d = 0; d < dk; d++) {
                    acc = FloatVector.fromArray(F, kT, kTOff + d * kTStride + t0)
                            .fma(FloatVector.broadcast(F, q[qi + d]), acc);
                }
                acc.mul(scale).intoArray(s, i * sStride + t0);
            }
        }
        for (; t0 < n; t0++) {
            for (int i = 0; i < qn; i++) {
                float acc = 0f;
                int qi = qOff + i * qStride;
                for (int d = 0; d < dk; d++) {
                    acc += q[qi + d] * kT[kTOff + d * kTStride + t0];
                }
                s[i * sStride + t0] = acc * scale;
            }
        }
    }

    private static void scoreTile(float[] q, int q0, int q1, int q2, int q3, int q4, int q5, int q6, int q7, int dk,
                                  float[] kT, int kOff, int kStride, float scale, float[] s, int t0, int sStride,
                                  int qn) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
        FloatVector a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
        FloatVector a60 = a00, a61 = a00, a70 = a00, a71 = a00;
        for (int d = 0; d < dk; d++) {
            int ko = kOff + d * kStride;
            FloatVector k0 = FloatVector.fromArray(F, kT, ko);
            FloatVector k1 = FloatVector.fromArray(F, kT, ko + L);
            FloatVector b = FloatVector.broadcast(F, q[q0 + d]);
            a00 = k0.fma(b, a00);
            a01 = k1.fma(b, a01);
            b = FloatVector.broadcast(F, q[q1 + d]);
            a10 = k0.fma(b, a10);
            a11 = k1.fma(b, a11);
            b = FloatVector.broadcast(F, q[q2 + d]);
            a20 = k0.fma(b, a20);
            a21 = k1.fma(b, a21);
            b = FloatVector.broadcast(F, q[q3 + d]);
            a30 = k0.fma(b, a30);
            a31 = k1.fma(b, a31);
            b = FloatVector.broadcast(F, q[q4 + d]);
            a40 = k0.fma(b, a40);
            a41 = k1.fma(b, a41);
            b = FloatVector.broadcast(F, q[q5 + d]);
            a50 = k0.fma(b, a50);
            a51 = k1.fma(b, a51);
            b = FloatVector.broadcast(F, q[q6 + d]);
            a60 = k0.fma(b, a60);
            a61 = k1.fma(b, a61);
            b = FloatVector.broadcast(F, q[q7 + d]);
            a70 = k0.fma(b, a70);
            a71 = k1.fma(b, a71);
        }
        int o = t0;
        a00.mul(scale).intoArray(s, o);
        a01.mul(scale).intoArray(s, o + L);
        if (qn > 1) {
            o += sStride;
            a10.mul(scale).intoArray(s, o);
            a11.mul(scale).intoArray(s, o + L);
        }
        if (qn > 2) {
            o += sStride;
            a20.mul(scale).intoArray(s, o);
            a21.mul(scale).intoArray(s, o + L);
        }
        if (qn > 3) {
            o += sStride;
            a30.mul(scale).intoArray(s, o);
            a31.mul(scale).intoArray(s, o + L);
        }
        if (qn > 4) {
            o += sStride;
            a40.mul(scale).intoArray(s, o);
            a41.mul(scale).intoArray(s, o + L);
        }
        if (qn > 5) {
            o += sStride;
            a50.mul(scale).intoArray(s, o);
            a51.mul(scale).intoArray(s, o + L);
        }
        if (qn > 6) {
            o += sStride;
            a60.mul(scale).intoArray(s, o);
            a61.mul(scale).intoArray(s, o + L);
        }
        if (qn > 7) {
            o += sStride;
            a70.mul(scale).intoArray(s, o);
            a71.mul(scale).intoArray(s, o + L);
        }
    }

    /**
     * {@code out[outOff + i·outStride + j] = Σ_{t<n} p[pOff + i·pStride + t] · value_t[j]} for {@code i < nq},
     * {@code j < dv}; value row t starts at {@code offs == null ? vOff + t·vStride : offs[offsOff + t]}.
     */
    static void weightedSum(float[] p, int pOff, int pStride, int nq, int n, float[] v, int vOff, int vStride,
                            int[] offs, int offsOff, int dv, float[] out, int outOff, int outStride) {
        for (int i0 = 0; i0 < nq; i0 += 4) {
            int qn = Math.min(4, nq - i0);
            int p0 = pOff + i0 * pStride;
            int p1 = pOff + (i0 + Math.min(1, qn - 1)) * pStride;
            int p2 = pOff + (i0 + Math.min(2, qn - 1)) * pStride;
            int p3 = pOff + (i0 + Math.min(3, qn - 1)) * pStride;
            int o = outOff + i0 * outStride;
            int j = 0;
            for (; j + 4 * L <= dv; j += 4 * L) {
                sum4x4(p, p0, p1, p2, p3, n, v, vOff + j, vStride, offs, offsOff, j, out, o + j, outStride, qn);
            }
            for (; j + L <= dv; j += L) {
                FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0;
                for (int t = 0; t < n; t++) {
                    int vo = (offs == null ? vOff + t * vStride : offs[offsOff + t]) + j;
                    FloatVector x = FloatVector.fromArray(F, v, vo);
                    c0 = x.fma(FloatVector.broadcast(F, p[p0 + t]), c0);
                    c1 = x.fma(FloatVector.broadcast(F, p[p1 + t]), c1);
                    c2 = x.fma(FloatVector.broadcast(F, p[p2 + t]), c2);
                    c3 = x.fma(FloatVector.broadcast(F, p[p3 + t]), c3);
                }
                c0.intoArray(out, o + j);
                if (qn > 1) {
                    c1.intoArray(out, o + outStride + j);
                }
                if (qn > 2) {
                    c2.intoArray(out, o + 2 * outStride + j);
                }
                if (qn > 3) {
                    c3.intoArray(out, o + 3 * outStride + j);
                }
            }
            for (; j < dv; j++) {
                for (int i = 0; i < qn; i++) {
                    int pi = pOff + (i0 + i) * pStride;
                    float acc = 0f;
                    for (int t = 0; t < n; t++) {
                        acc += p[pi + t] * v[(offs == null ? vOff + t * vStride : offs[offsOff + t]) + j];
                    }
                    out[o + i * outStride + j] = acc;
                }
            }
        }
    }

    private static void sum4x4(float[] p, int p0, int p1, int p2, int p3, int n, float[] v, int vOff, int vStride,
                               int[] offs, int offsOff, int j, float[] out, int o, int outStride, int qn) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        for (int t = 0; t < n; t++) {
            int vo = offs == null ? vOff + t * vStride : offs[offsOff + t] + j;
            FloatVector x0 = FloatVector.fromArray(F, v, vo);
            FloatVector x1 = FloatVector.fromArray(F, v, vo + L);
            FloatVector x2 = FloatVector.fromArray(F, v, vo + 2 * L);
            FloatVector x3 = FloatVector.fromArray(F, v, vo + 3 * L);
            FloatVector b = FloatVector.broadcast(F, p[p0 + t]);
            c00 = x0.fma(b, c00);
            c01 = x1.fma(b, c01);
            c02 = x2.fma(b, c02);
            c03 = x3.fma(b, c03);
            b = FloatVector.broadcast(F, p[p1 + t]);
            c10 = x0.fma(b, c10);
            c11 = x1.fma(b, c11);
            c12 = x2.fma(b, c12);
            c13 = x3.fma(b, c13);
            b = FloatVector.broadcast(F, p[p2 + t]);
            c20 = x0.fma(b, c20);
            c21 = x1.fma(b, c21);
            c22 = x2.fma(b, c22);
            c23 = x3.fma(b, c23);
            b = FloatVector.broadcast(F, p[p3 + t]);
            c30 = x0.fma(b, c30);
            c31 = x1.fma(b, c31);
            c32 = x2.fma(b, c32);
            c33 = x3.fma(b, c33);
        }
        c00.intoArray(out, o);
        c01.intoArray(out, o + L);
        c02.intoArray(out, o + 2 * L);
        c03.intoArray(out, o + 3 * L);
        if (qn > 1) {
            c10.intoArray(out, o + outStride);
            c11.intoArray(out, o + outStride + L);
            c12.intoArray(out, o + outStride + 2 * L);
            c13.intoArray(out, o + outStride + 3 * L);
        }
        if (qn > 2) {
            c20.intoArray(out, o + 2 * outStride);
            c21.intoArray(out, o + 2 * outStride + L);
            c22.intoArray(out, o + 2 * outStride + 2 * L);
            c23.intoArray(out, o + 2 * outStride + 3 * L);
        }
        if (qn > 3) {
            c30.intoArray(out, o + 3 * outStride);
            c31.intoArray(out, o + 3 * outStride + L);
            c32.intoArray(out, o + 3 * outStride + 2 * L);
            c33.intoArray(out, o + 3 * outStride + 3 * L);
        }
    }


    /** Scratch floats {@link #paged} needs: the scores, and one vector's lanes. */
    static int pagedScratch(int nq, int n) {
        return nq * n + L;
    }

    static void paged(float[] q, int qOff, int qStride, int nq, int dk, float[] cache, int[] offs, int offsOff, int n,
                      int dv, float scale, float[] out, int outOff, int outStride, float[] s) {
        for (int i0 = 0; i0 < nq; i0 += 4) {
            pagedScores(q, qOff + i0 * qStride, qStride, Math.min(4, nq - i0), dk, cache, offs, offsOff, n, scale, s,
                    i0 * n);
        }
        for (int i = 0; i < nq; i++) {
            softmax(s, i * n, n);
        }
        weightedSum(s, 0, n, nq, n, cache, 0, 0, offs, offsOff, dv, out, outOff, outStride);
    }

    /**
     * Scaled scores of up to four queries ({@code qn}, {@code qStride} apart from {@code q0}) against the {@code n}
     * cached keys at {@code offs}: {@code s[sOff + j·n + t]}. Its own method, so that {@link #paged} stays small
     * enough for C2 to inline the vector operations of everything it calls (past its node budget C2 stops inlining
     * and passes vectors boxed, which allocates on every call). Lane sums go through the last L floats of {@code s}.
     */
    private static void pagedScores(float[] q, int q0, int qStride, int qn, int dk, float[] cache, int[] offs,
                                    int offsOff, int n, float scale, float[] s, int sOff) {
        int q1 = q0 + Math.min(1, qn - 1) * qStride;
        int q2 = q0 + Math.min(2, qn - 1) * qStride;
        int q3 = q0 + Math.min(3, qn - 1) * qStride;
        int lanes = s.length - L;
        for (int t = 0; t < n; t++) {
            int ko = offs[offsOff + t];
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            int d = 0;
            for (; d + L <= dk; d += L) {
                FloatVector k = FloatVector.fromArray(F, cache, ko + d);
                a0 = k.fma(FloatVector.fromArray(F, q, q0 + d), a0);
                a1 = k.fma(FloatVector.fromArray(F, q, q1 + d), a1);
                a2 = k.fma(FloatVector.fromArray(F, q, q2 + d), a2);
                a3 = k.fma(FloatVector.fromArray(F, q, q3 + d), a3);
            }
            a0.intoArray(s, lanes);
            float s0 = Lanes.sumStored(s, lanes);
            a1.intoArray(s, lanes);
            float s1 = Lanes.sumStored(s, lanes);
            a2.intoArray(s, lanes);
            float s2 = Lanes.sumStored(s, lanes);
            a3.intoArray(s, lanes);
            float s3 = Lanes.sumStored(s, lanes);
            for (; d < dk; d++) {
                float k = cache[ko + d];
                s0 += k * q[q0 + d];
                s1 += k * q[q1 + d];
                s2 += k * q[q2 + d];
                s3 += k * q[q3 + d];
            }
            s[sOff + t] = s0 * scale;
            if (qn > 1) {
                s[sOff + n + t] = s1 * scale;
            }
            if (qn > 2) {
                s[sOff + 2 * n + t] = s2 * scale;
            }
            if (qn > 3) {
                s[sOff + 3 * n + t] = s3 * scale;
            }
        }
    }

    /**
     * In-place softmax of {@code v[off, off + n)}: max-subtracted, vector exp, float32 sum. The vector loops live in
     * methods that take only arrays and scalars, so whether or not C2 inlines them into a large caller, no vector is
     * ever passed boxed.
     */
    static void softmax(float[] v, int off, int n) {
        if (n <= 0) {
            return;
        }
        float max = max(v, off, n);
        float sum = Lanes.expShifted(v, off, n, max);
        scale(v, off, n, 1f / sum);
    }

    /** The largest of {@code v[off, off + n)}, n > 0. */
    private static float max(float[] v, int off, int n) {
        FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i + L <= n; i += L) {
            mv = mv.max(FloatVector.fromArray(F, v, off + i));
        }
        float max = mv.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            max = Math.max(max, v[off + i]);
        }
        return max;
    }

    /** {@code v[off, off + n) *= f}. */
    private static void scale(float[] v, int off, int n, float f) {
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, v, off + i).mul(f).intoArray(v, off + i);
        }
        for (; i < n; i++) {
            v[off + i] *= f;
        }
    }

    /** RMSNorm of one vector, float32 sum of squares in vector lanes. */
    static void rmsNorm(float[] x, int xOff, float[] weight, float eps, float[] out, int outOff) {
        int n = weight.length;
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector v = FloatVector.fromArray(F, x, xOff + i);
            acc = v.fma(v, acc);
        }
        float ss = Lanes.sum(acc);
        for (; i < n; i++) {
            ss += x[xOff + i] * x[xOff + i];
        }
        float inv = (float) (1.0 / Math.sqrt(ss / n + eps));
        i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, x, xOff + i).mul(inv).mul(FloatVector.fromArray(F, weight, i))
                    .intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            out[outOff + i] = weight[i] * (x[xOff + i] * inv);
        }
    }
}
