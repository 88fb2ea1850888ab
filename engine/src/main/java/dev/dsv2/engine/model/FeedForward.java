package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;

/** The MLP half of a decoder layer: a dense SwiGLU MLP or a MoE block. */
public interface FeedForward {
    /** {@code out [rows, D] = mlp(x [rows, D])}; {@code out} is overwritten. */
    void forward(Backend be, Buffer x, int rows, Buffer out, Workspace ws);

    /**
     * Starts {@link #forward} and returns what completes it, so that a caller can run other work (the attention of
     * another micro-batch) while remote experts compute. {@code x} and {@code out} belong to the call until
     * {@link Pending#await()}, which waits for remote work and combines. The default computes everything now.
     */
    default Pending begin(Backend be, Buffer x, int rows, Buffer out, Workspace ws) {
        forward(be, x, rows, out, ws);
        return Pending.DONE;
    }

    /** Bytes of the weights every step reads here (for a MoE block: gate and shared experts, not routed experts). */
    default long weightBytes() {
        return 0;
    }
}
