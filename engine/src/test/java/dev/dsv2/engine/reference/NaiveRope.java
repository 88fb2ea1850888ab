package dev.dsv2.engine.reference;

/**
 * DeepSeek-V2's rotary embedding of the {@code qk_rope_head_dim} = d dims of q_pe and k_pe, in double precision.
 * Mirrors modeling_deepseek.py:
 * <ul>
 *   <li>{@code DeepseekV2RotaryEmbedding}: inv_freq[i] = 1 / base^(2i/d), i in [0, d/2), no scaling;</li>
 *   <li>{@code DeepseekV2YarnRotaryEmbedding}: freq_extra = 1/base^(2i/d), freq_inter = 1/(factor * base^(2i/d)),
 *       inv_freq_mask = 1 - yarn_linear_ramp_mask(low, high, d/2) with (low, high) from
 *       {@code yarn_find_correction_range(beta_fast, beta_slow, d, base, original_max_position_embeddings)},
 *       inv_freq = freq_inter * (1 - mask) + freq_extra * mask, and cos/sin multiplied by
 *       {@code yarn_get_mscale(factor, mscale) / yarn_get_mscale(factor, mscale_all_dim)};</li>
 *   <li>{@code apply_rotary_pos_emb}: x.view(d/2, 2).transpose → x' = (x[0], x[2], ..., x[d-2], x[1], x[3], ...,
 *       x[d-1]), then x' * cos + rotate_half(x') * sin with emb = cat(freqs, freqs) and rotate_half(x') =
 *       cat(-x'[d/2:], x'[:d/2]). The result stays in the de-interleaved order (q and k alike, so q·k is unchanged).</li>
 * </ul>
 */
public final class NaiveRope {
    private final double[] invFreq;
    private final double cosSinScale;

    public NaiveRope(int dim, double base, NaiveConfig.Yarn yarn) {
        this.invFreq = yarn == null ? plainInvFreq(dim, base) : yarnInvFreq(dim, base, yarn);
        this.cosSinScale = yarn == null ? 1.0
                : yarnGetMscale(yarn.factor(), yarn.mscale()) / yarnGetMscale(yarn.factor(), yarn.mscaleAllDim());
    }

    public double[] invFreq() {
        return invFreq.clone();
    }

    /** The factor on cos and sin: 1 for plain rope, get_mscale(factor, mscale)/get_mscale(factor, mscale_all_dim). */
    public double cosSinScale() {
        return cosSinScale;
    }

    /** apply_rotary_pos_emb for one vector of length d at {@code position}: permutation, then rotation. */
    public double[] rotate(double[] x, int position) {
        int half = invFreq.length;
        if (x.length != 2 * half) {
            throw new IllegalArgumentException("rope vector has " + x.length + " dims, expected " + 2 * half);
        }
        double[] permuted = new double[x.length];
        for (int j = 0; j < half; j++) {
            permuted[j] = x[2 * j];
            permuted[half + j] = x[2 * j + 1];
        }
        double[] out = new double[x.length];
        for (int j = 0; j < half; j++) {
            double angle = position * invFreq[j];
            double cos = Math.cos(angle) * cosSinScale, sin = Math.sin(angle) * cosSinScale;
            out[j] = permuted[j] * cos - permuted[half + j] * sin;
            out[half + j] = permuted[half + j] * cos + permuted[j] * sin;
        }
        return out;
    }

    static double[] plainInvFreq(int dim, double base) {
        double[] f = new double[dim / 2];
        for (int i = 0; i < f.length; i++) f[i] = 1.0 / Math.pow(base, (2.0 * i) / dim);
        return f;
    }

    static double[] yarnInvFreq(int dim, double base, NaiveConfig.Yarn y) {
        int[] range = yarnFindCorrectionRange(y.betaFast(), y.betaSlow(), dim, base, y.originalMaxPositionEmbeddings());
        double low = range[0], high = range[1] == range[0] ? range[1] + 0.001 : range[1];
        double[] f = new double[dim / 2];
        for (int i = 0; i < f.length; i++) {
            double extra = 1.0 / Math.pow(base, (2.0 * i) / dim);
            double inter = 1.0 / (y.factor() * Math.pow(base, (2.0 * i) / dim));
            double ramp = Math.min(1.0, Math.max(0.0, (i - low) / (high - low)));
            double mask = 1.0 - ramp;
            f[i] = inter * (1 - mask) + extra * mask;
        }
        return f;
    }

    /** yarn_find_correction_dim: the dim at which {@code numRotations} full turns fit the original context. */
    static double yarnFindCorrectionDim(double numRotations, int dim, double base, int maxPositionEmbeddings) {
        return (dim * Math.log(maxPositionEmbeddings / (numRotations * 2 * Math.PI))) / (2 * Math.log(base));
    }

    /** yarn_find_correction_range: {max(floor(dim(low_rot)), 0), min(ceil(dim(high_rot)), dim - 1)}. */
    static int[] yarnFindCorrectionRange(double lowRot, double highRot, int dim, double base, int maxPositionEmbeddings) {
        int low = (int) Math.floor(yarnFindCorrectionDim(lowRot, dim, base, maxPositionEmbeddings));
        int high = (int) Math.ceil(yarnFindCorrectionDim(highRot, dim, base, maxPositionEmbeddings));
        return new int[] {Math.max(low, 0), Math.min(high, dim - 1)};
    }

    /** yarn_get_mscale: 1 when scale <= 1, else 0.1 * mscale * ln(scale) + 1. */
    static double yarnGetMscale(double scale, double mscale) {
        return scale <= 1 ? 1.0 : 0.1 * mscale * Math.log(scale) + 1.0;
    }

    /**
     * DeepseekV2Attention.__init__: q_head_dim^-0.5, times yarn_get_mscale(factor, mscale_all_dim)² when
     * rope_scaling is set and its mscale_all_dim is non-zero.
     */
    public static double softmaxScale(int qHeadDim, NaiveConfig.Yarn yarn) {
        double scale = Math.pow(qHeadDim, -0.5);
        if (yarn != null && yarn.mscaleAllDim() != 0) {
            double m = yarnGetMscale(yarn.factor(), yarn.mscaleAllDim());
            scale = scale * m * m;
        }
        return scale;
    }
}
