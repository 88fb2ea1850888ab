package dev.dsv2.engine.config;

/**
 * YaRN rope helpers, exactly as the reference {@code modeling_deepseek.py} computes them
 * ({@code yarn_find_correction_dim}, {@code yarn_find_correction_range}, {@code yarn_get_mscale},
 * {@code yarn_linear_ramp_mask} and {@code DeepseekV2YarnRotaryEmbedding._set_cos_sin_cache}).
 */
public final class Yarn {
    private Yarn() {
    }

    public static double getMscale(double scale, double mscale) {
        if (scale <= 1) {
            return 1.0;
        }
        return 0.1 * mscale * Math.log(scale) + 1.0;
    }

    static double findCorrectionDim(double numRotations, int dim, double base, int maxPositionEmbeddings) {
        return (dim * Math.log(maxPositionEmbeddings / (numRotations * 2 * Math.PI))) / (2 * Math.log(base));
    }

    /**
     * Inverse frequencies of the {@code dim/2} rotary pairs; plain rope when {@code scaling} is null.
     * Computed in float32 like the reference (torch.float32 tensors), returned as floats.
     */
    public static float[] inverseFrequencies(int dim, double base, ModelConfig.RopeScaling scaling) {
        int half = dim / 2;
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / dim;
            float freqExtra = (float) (1.0 / (float) Math.pow(base, exponent));
            if (scaling == null) {
                inv[i] = freqExtra;
                continue;
            }
            float freqInter = (float) (1.0 / (float) (scaling.factor() * (float) Math.pow(base, exponent)));
            int low = Math.max((int) Math.floor(findCorrectionDim(scaling.betaFast(), dim, base,
                    scaling.originalMaxPositionEmbeddings())), 0);
            int high = Math.min((int) Math.ceil(findCorrectionDim(scaling.betaSlow(), dim, base,
                    scaling.originalMaxPositionEmbeddings())), dim - 1);
            float lo = low;
            float hi = high == low ? high + 0.001f : high;
            float ramp = Math.clamp((i - lo) / (hi - lo), 0f, 1f);
            float extraMask = 1.0f - ramp;
            inv[i] = freqInter * (1 - extraMask) + freqExtra * extraMask;
        }
        return inv;
    }

    /** The factor applied to cos and sin: {@code get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim)}. */
    public static float cosSinScale(ModelConfig.RopeScaling scaling) {
        if (scaling == null) {
            return 1f;
        }
        return (float) (getMscale(scaling.factor(), scaling.mscale()) / getMscale(scaling.factor(), scaling.mscaleAllDim()));
    }
}
