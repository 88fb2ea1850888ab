package dev.dsv2.engine.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.config.Yarn;

/**
 * Rotary position embedding of the {@code qk_rope_head_dim} part of queries and keys, as the reference
 * {@code DeepseekV2YarnRotaryEmbedding} + {@code apply_rotary_pos_emb}: YaRN-blended inverse frequencies, cos/sin
 * scaled by {@code mscale / mscale_all_dim}, and the reference's permutation of the input (interleaved pairs
 * {@code (x0,x1),(x2,x3),..} regrouped as halves {@code [x0,x2,..|x1,x3,..]}) before the rotate-half rotation.
 * The output stays in the halves layout; queries and cached keys share it, so their dot products are exact.
 */
public final class RotaryEmbedding {
    private final int dim;
    private final int half;
    private final float[] invFreq; // [dim/2]
    private final float scale;

    public RotaryEmbedding(ModelConfig c) {
        this.dim = c.qkRopeHeadDim();
        this.half = dim / 2;
        this.invFreq = Yarn.inverseFrequencies(dim, c.ropeTheta(), c.ropeScaling());
        this.scale = Yarn.cosSinScale(c.ropeScaling());
    }

    public int dim() {
        return dim;
    }

    /** cos and sin of every frequency at {@code position}, into {@code cs[csOff, csOff + half)} and {@code cs[csOff + half, csOff + dim)}. */
    public void cosSin(int position, float[] cs, int csOff) {
        for (int i = 0; i < half; i++) {
            float angle = (float) position * invFreq[i];
            cs[csOff + i] = (float) Math.cos(angle) * scale;
            cs[csOff + half + i] = (float) Math.sin(angle) * scale;
        }
    }

    /** Floats a {@code cs} buffer needs: cos and sin halves, then room for the rotation's temporary. */
    public int bufferSize() {
        return 2 * dim;
    }

    /** Rotates {@code v[off, off + dim)} in place given {@link #cosSin} of its position ({@code cs} of {@link #bufferSize()}). */
    public void rotate(float[] v, int off, float[] cs, int csOff) {
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
}
