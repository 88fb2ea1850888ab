package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Backend;

/** The MLP half of a decoder layer: a dense SwiGLU MLP or a MoE block. */
public interface FeedForward {
    /** {@code out [rows, D] = mlp(x [rows, D])}; {@code out} is overwritten. */
    void forward(Backend be, float[] x, int rows, float[] out, Workspace ws);

    /** Bytes of the weights every step reads here (for a MoE block: gate and shared experts, not routed experts). */
    default long weightBytes() {
        return 0;
    }
}
