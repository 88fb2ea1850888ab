package dev.dsv2.engine.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.config.Yarn;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;

/**
 * Rotary position embedding of the {@code qk_rope_head_dim} part of queries and keys, as the reference
 * {@code DeepseekV2YarnRotaryEmbedding} + {@code apply_rotary_pos_emb}: YaRN-blended inverse frequencies, cos/sin
 * scaled by {@code mscale / mscale_all_dim}, and the reference's permutation of the input (interleaved pairs
 * {@code (x0,x1),(x2,x3),..} regrouped as halves {@code [x0,x2,..|x1,x3,..]}) before the rotate-half rotation.
 * The output stays in the halves layout; queries and cached keys share it, so their dot products are exact. The
 * tables and the rotation are backend operations ({@link Backend#ropeTables}, {@link Backend#mlaCacheWrite}).
 */
public final class RotaryEmbedding {
    private final int dim;
    private final float[] invFreq; // [dim/2], a constant of the config
    private final float scale;

    public RotaryEmbedding(ModelConfig c) {
        this.dim = c.qkRopeHeadDim();
        this.invFreq = Yarn.inverseFrequencies(dim, c.ropeTheta(), c.ropeScaling());
        this.scale = Yarn.cosSinScale(c.ropeScaling());
    }

    public int dim() {
        return dim;
    }

    /** The YaRN inverse frequencies {@code [dim/2]} (a copy). */
    public float[] inverseFrequencies() {
        return invFreq.clone();
    }

    /** The factor cos and sin are scaled by. */
    public float scale() {
        return scale;
    }

    /** Floats a row of the tables needs: cos and sin halves, then room for the rotation's temporary. */
    public int bufferSize() {
        return 2 * dim;
    }

    /** The tables of every row's position into {@code cs [rows, bufferSize()]}. */
    public void tables(Backend be, int[] positions, int rows, Buffer cs) {
        be.ropeTables(invFreq, scale, positions, rows, cs);
    }
}
