package dev.dsv2.engine.sample;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The softmax arithmetic shared by {@link Sampler} and {@link Logprobs}, bit-reproducible on every JVM and CPU.
 *
 * <p>For one row {@code x = logits[offset .. offset+n)} (token id {@code i} at {@code logits[offset+i]}) and an
 * inverse temperature {@code 1/T}:
 * <pre>
 *   m   = max_i x_i                               maxLogit: rejects NaN, +Infinity and an all -Infinity row
 *   s_i = ((double) x_i - m) * (1/T)     <= 0
 *   w_i = exp(s_i), or 0 where s_i < -708         unnormalised probabilities in [0, 1]; the max has w = 1
 *   Z   = sum_i w_i                      >= 1     softmax_i = w_i / Z
 * </pre>
 * {@code exp(-708)} is about 3.3e-308: a weight below it is far below the rounding error of {@code Z >= 1}, and the
 * cut keeps every weight a normal double.
 *
 * <p>Why not {@code Math.exp}: it costs about 8 ns a call (1 ms for a 129,280-token vocab, 64 ms for a batch of 64)
 * and is only specified to within an ulp, so a seeded draw could differ between CPUs. Here {@code exp} is Cody-Waite
 * range reduction ({@code s = k ln2 + r}, two FMAs), a degree-12 Taylor polynomial in {@code r} (Horner, FMAs) and an
 * exact scale by {@code 2^k}: only correctly rounded IEEE operations, so the Vector API loop, its scalar tail and
 * {@link #scalarExpWeights} give identical bits everywhere; the error is at most 3 ulp of the true value. {@code Z} is
 * accumulated in 8 partial sums (token id mod 8), added in a fixed order at the end, so it does not depend on the
 * machine's vector width either.
 */
final class SoftmaxKernel {
    /** Weights of tokens with {@code s < EXP_CUTOFF} are 0. */
    static final double EXP_CUTOFF = -708.0;
    /** Temperatures below this behave exactly like it: any two distinct float logits are then > 708 apart in s. */
    static final double MIN_TEMPERATURE = 1e-60;

    private static final double LOG2_E = 1.4426950408889634;
    private static final double LN2_HI = 0x1.62e42fefa39efp-1;
    private static final double LN2_LO = 0x1.abc9e3b39803fp-56;
    /** 1.5 * 2^52: adding it rounds to an integer that then sits in the low mantissa bits. */
    private static final double ROUND_SHIFT = 0x1.8p52;
    /** Taylor coefficients 1/j!, j = 0..12. */
    private static final double[] TAYLOR = taylorCoefficients(12);

    private static final int PARTIAL_SUMS = 8;
    private static final VectorSpecies<Double> DOUBLES = DoubleVector.SPECIES_PREFERRED.length() <= PARTIAL_SUMS
            ? DoubleVector.SPECIES_PREFERRED : DoubleVector.SPECIES_512;
    /** Floats with as many lanes as {@link #DOUBLES}, so one load converts into one double vector. */
    private static final VectorSpecies<Float> FLOATS =
            VectorSpecies.of(float.class, VectorShape.forBitSize(DOUBLES.vectorBitSize() / 2));
    private static final int LANES = DOUBLES.length();
    private static final VectorSpecies<Float> MAX_FLOATS = FloatVector.SPECIES_PREFERRED;

    private SoftmaxKernel() {
    }

    /**
     * The largest logit of {@code logits[offset .. offset+n)}.
     *
     * @throws IllegalArgumentException naming the first offending token id when a logit is NaN or +Infinity, or when
     *                                  every logit is -Infinity (no token could ever be chosen)
     */
    static float maxLogit(float[] logits, int offset, int n) {
        FloatVector maxes = FloatVector.broadcast(MAX_FLOATS, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int upper = MAX_FLOATS.loopBound(n); i < upper; i += MAX_FLOATS.length()) {
            maxes = maxes.max(FloatVector.fromArray(MAX_FLOATS, logits, offset + i));
        }
        float max = maxes.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        if (Float.isNaN(max) || max == Float.POSITIVE_INFINITY) {
            for (int id = 0; id < n; id++) {
                float v = logits[offset + id];
                if (Float.isNaN(v) || v == Float.POSITIVE_INFINITY) {
                    throw new IllegalArgumentException("logit of token " + id + " is " + v
                            + "; logits must be finite or -Infinity");
                }
            }
        }
        if (max == Float.NEGATIVE_INFINITY) {
            throw new IllegalArgumentException("all " + n + " logits are -Infinity; no token can be chosen");
        }
        return max;
    }

    /** {@code 1/T}, capped so that tiny temperatures stay finite (see {@link #MIN_TEMPERATURE}). */
    static double inverseTemperature(double temperature) {
        return 1.0 / Math.max(temperature, MIN_TEMPERATURE);
    }

    /** {@code exp(s)} for {@code s} in {@code [-708, 0]}, bit-identical to the vector lanes of {@link #expWeights}. */
    static double exp(double s) {
        double shifted = Math.fma(s, LOG2_E, ROUND_SHIFT);
        long kBits = Double.doubleToRawLongBits(shifted);
        double k = shifted - ROUND_SHIFT;
        double r = Math.fma(-k, LN2_HI, s);
        r = Math.fma(-k, LN2_LO, r);
        double p = TAYLOR[12];
        for (int j = 11; j >= 0; j--) {
            p = Math.fma(p, r, TAYLOR[j]);
        }
        return p * Double.longBitsToDouble((kBits + 1023) << 52);
    }

    /** The weight {@code w} of one logit, bit-identical to {@link #expWeights}. */
    static double weight(float logit, float max, double invTemperature) {
        double s = ((double) logit - max) * invTemperature;
        return s < EXP_CUTOFF ? 0.0 : exp(s);
    }

    /** Writes {@code w_i} of every token into {@code out[0..n)} and returns {@code Z}. */
    static double expWeights(float[] logits, int offset, int n, float max, double invTemperature, double[] out) {
        return expLoop(logits, offset, n, max, invTemperature, out);
    }

    /** {@code Z} alone, without storing the weights. */
    static double sumExp(float[] logits, int offset, int n, float max, double invTemperature) {
        return expLoop(logits, offset, n, max, invTemperature, null);
    }

    /** The scalar oracle of {@link #expWeights}: same values, same bits, one token at a time. */
    static double scalarExpWeights(float[] logits, int offset, int n, float max, double invTemperature, double[] out) {
        double[] partial = new double[PARTIAL_SUMS];
        for (int i = 0; i < n; i++) {
            double w = weight(logits[offset + i], max, invTemperature);
            out[i] = w;
            partial[i & (PARTIAL_SUMS - 1)] += w;
        }
        return total(partial);
    }

    private static double expLoop(float[] logits, int offset, int n, float max, double invT, double[] out) {
        DoubleVector zero = DoubleVector.zero(DOUBLES);
        DoubleVector acc0 = zero;
        DoubleVector acc1 = zero;
        DoubleVector acc2 = zero;
        DoubleVector acc3 = zero;
        int i = 0;
        // Blocks of 8 tokens; lane l of accN holds the partial sum of token ids = N*LANES + l (mod 8).
        for (int upper = n - n % PARTIAL_SUMS; i < upper; i += PARTIAL_SUMS) {
            acc0 = acc0.add(expVector(logits, offset, i, max, invT, out));
            if (LANES < 8) {
                acc1 = acc1.add(expVector(logits, offset, i + LANES, max, invT, out));
            }
            if (LANES < 4) {
                acc2 = acc2.add(expVector(logits, offset, i + 2 * LANES, max, invT, out));
                acc3 = acc3.add(expVector(logits, offset, i + 3 * LANES, max, invT, out));
            }
        }
        double[] partial = new double[PARTIAL_SUMS];
        acc0.intoArray(partial, 0);
        if (LANES < 8) {
            acc1.intoArray(partial, LANES);
        }
        if (LANES < 4) {
            acc2.intoArray(partial, 2 * LANES);
            acc3.intoArray(partial, 3 * LANES);
        }
        for (; i < n; i++) {
            double w = weight(logits[offset + i], max, invT);
            if (out != null) {
                out[i] = w;
            }
            partial[i & (PARTIAL_SUMS - 1)] += w;
        }
        return total(partial);
    }

    private static DoubleVector expVector(float[] logits, int offset, int i, float max, double invT, double[] out) {
        DoubleVector x = (DoubleVector) FloatVector.fromArray(FLOATS, logits, offset + i)
                .convertShape(VectorOperators.F2D, DOUBLES, 0);
        DoubleVector s = x.sub(max).mul(invT);
        DoubleVector shifted = s.fma(LOG2_E, ROUND_SHIFT);
        LongVector kBits = shifted.reinterpretAsLongs();
        DoubleVector minusK = shifted.sub(ROUND_SHIFT).neg();
        DoubleVector r = minusK.fma(DoubleVector.broadcast(DOUBLES, LN2_HI), s);
        r = minusK.fma(DoubleVector.broadcast(DOUBLES, LN2_LO), r);
        DoubleVector p = DoubleVector.broadcast(DOUBLES, TAYLOR[12]);
        for (int j = 11; j >= 0; j--) {
            p = p.fma(r, DoubleVector.broadcast(DOUBLES, TAYLOR[j]));
        }
        DoubleVector scale = kBits.add(1023L).lanewise(VectorOperators.LSHL, 52L).reinterpretAsDoubles();
        DoubleVector w = p.mul(scale).blend(0.0, s.compare(VectorOperators.LT, EXP_CUTOFF));
        if (out != null) {
            w.intoArray(out, i);
        }
        return w;
    }

    private static double total(double[] partial) {
        double z = 0.0;
        for (double p : partial) {
            z += p;
        }
        return z;
    }

    private static double[] taylorCoefficients(int degree) {
        double[] c = new double[degree + 1];
        double factorial = 1.0;
        for (int j = 0; j <= degree; j++) {
            factorial *= Math.max(j, 1);
            c[j] = 1.0 / factorial;
        }
        return c;
    }
}
