package dev.dsv2.engine.kernel.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteOrder;

/**
 * The vector shapes of the CPU kernels (the machine's widest float species, e.g. 16 lanes with AVX-512) and the
 * helpers they share: lane sums, vector exp and SiLU. Only the small {@link #sum} takes a vector: a call that C2
 * does not inline passes vectors boxed, which is slow and allocates, so the others take arrays.
 */
final class Lanes {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    /** Float lanes per vector. */
    static final int L = F.length();
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private Lanes() {
    }

    /**
     * The sum of a vector's lanes in lane order. {@code reduceLanes(ADD)} leaves the order unspecified and it differs
     * between the interpreter and C2, which changed results in the last bits once the JIT kicked in; a fixed order
     * keeps every run bit-reproducible. Kept this small so that C2 inlines it: a vector passed to a method that is not
     * inlined is boxed (slow, and it allocates). Hot kernels with many sums use {@link #sumStored} instead.
     */
    static float sum(FloatVector v) {
        float s = 0f;
        for (int i = 0; i < L; i++) {
            s += v.lane(i);
        }
        return s;
    }

    /**
     * The sum of {@code lanes[0, L)} — a vector's lanes stored with {@code intoArray} — in a fixed pairwise order
     * (lane i plus lane i + L/2, then halves again), overwriting them. Scalar code taking an array, so it is
     * reproducible in every tier and needs no inlining to avoid boxing.
     */
    static float sumStored(float[] lanes) {
        return sumStored(lanes, 0);
    }

    /** {@link #sumStored(float[])} of {@code a[off, off + L)}. */
    static float sumStored(float[] a, int off) {
        for (int h = L / 2; h > 0; h >>= 1) {
            for (int i = 0; i < h; i++) {
                a[off + i] += a[off + i + h];
            }
        }
        return a[off];
    }

    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** 1.5 · 2^23: adding it rounds a float of magnitude below 2^22 to an integer, kept in the low mantissa bits. */
    private static final float ROUND = 12582912f;
    private static final int ROUND_BITS = Float.floatToRawIntBits(ROUND);

    /**
     * {@code v[off + i] = exp(v[off + i] - shift)} for {@code i < n}; returns their float32 sum. The vector exp is
     * Cephes {@code expf} (range reduction by ln 2, a degree-6 polynomial, the exponent added in the integer bits),
     * relative error about 1e-7, arguments clamped to [-87.3, 88.7]. It is written out here and in {@link #siluMul}
     * rather than as a helper taking and returning vectors: C2 declines to inline such a helper once it has been
     * compiled on its own, and a call that passes vectors boxes them (slow, and it allocates).
     * {@code lanewise(EXP)} is not used because it is not compiled to vector code on every CPU either.
     */
    static float expShifted(float[] v, int off, int n, float shift) {
        FloatVector sum = FloatVector.zero(F);
        FloatVector c1 = FloatVector.broadcast(F, 8.3334519073e-3f);
        FloatVector c2 = FloatVector.broadcast(F, 4.1665795894e-2f);
        FloatVector c3 = FloatVector.broadcast(F, 1.6666665459e-1f);
        FloatVector c4 = FloatVector.broadcast(F, 5.0000001201e-1f);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector x = FloatVector.fromArray(F, v, off + i).sub(shift).max(-87.3f).min(88.7f);
            FloatVector t = x.fma(LOG2E, ROUND);
            FloatVector k = t.sub(ROUND);
            FloatVector r = k.mul(-LN2_HI).add(x).add(k.mul(-LN2_LO));
            FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f).fma(r, c1).fma(r, c2).fma(r, c3).fma(r, c4);
            FloatVector y = p.mul(r.mul(r)).add(r).add(1f);
            FloatVector e = y.reinterpretAsInts()
                    .add(t.reinterpretAsInts().sub(ROUND_BITS).lanewise(VectorOperators.LSHL, 23))
                    .reinterpretAsFloats();
            e.intoArray(v, off + i);
            sum = sum.add(e);
        }
        float s = Lanes.sum(sum);
        for (; i < n; i++) {
            float e = (float) Math.exp(v[off + i] - shift);
            v[off + i] = e;
            s += e;
        }
        return s;
    }

    /** {@code out[o + i] = silu(g[gOff + i]) · u[uOff + i]} for {@code i < n} (exp as in {@link #expShifted}). */
    static void siluMul(float[] g, int gOff, float[] u, int uOff, float[] out, int o, int n) {
        FloatVector c1 = FloatVector.broadcast(F, 8.3334519073e-3f);
        FloatVector c2 = FloatVector.broadcast(F, 4.1665795894e-2f);
        FloatVector c3 = FloatVector.broadcast(F, 1.6666665459e-1f);
        FloatVector c4 = FloatVector.broadcast(F, 5.0000001201e-1f);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector gv = FloatVector.fromArray(F, g, gOff + i);
            FloatVector x = gv.neg().max(-87.3f).min(88.7f);
            FloatVector t = x.fma(LOG2E, ROUND);
            FloatVector k = t.sub(ROUND);
            FloatVector r = k.mul(-LN2_HI).add(x).add(k.mul(-LN2_LO));
            FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f).fma(r, c1).fma(r, c2).fma(r, c3).fma(r, c4);
            FloatVector y = p.mul(r.mul(r)).add(r).add(1f);
            FloatVector e = y.reinterpretAsInts()
                    .add(t.reinterpretAsInts().sub(ROUND_BITS).lanewise(VectorOperators.LSHL, 23))
                    .reinterpretAsFloats();
            gv.div(e.add(1f)).mul(FloatVector.fromArray(F, u, uOff + i)).intoArray(out, o + i);
        }
        for (; i < n; i++) {
            out[o + i] = silu(g[gOff + i]) * u[uOff + i];
        }
    }

    static float silu(float v) {
        return (float) (v / (1.0 + Math.exp(-v)));
    }

    /** Rounds {@code n} up to a multiple of {@code m}. */
    static int roundUp(int n, int m) {
        return (n + m - 1) / m * m;
    }
}
