package dev.dsv2.engine.model;

/**
 * Reusable float scratch buffers of one forward pass, grown on demand and kept between passes so the decode loop
 * does not allocate. One workspace per thread that runs forward passes (never shared concurrently).
 */
public final class Workspace {
    /** Named slots; each is an independent buffer. */
    public enum Slot {
        HIDDEN, ROPE, NORMED, ATTN_OUT, Q, KV_A, Q_A, KV_EXPANDED, LATENT_CTX, SCORES, Q_LATENT, CTX_LATENT, HEAD_OUT,
        MLP_OUT, GATE_LOGITS, EXPERT_IN, EXPERT_GATE, EXPERT_UP, EXPERT_OUT, SHARED_OUT, LOGITS_IN, LOGITS
    }

    private final float[][] buffers = new float[Slot.values().length][];
    private int[] ints = new int[0];

    /** A buffer of at least {@code size} floats; contents are unspecified. */
    public float[] get(Slot slot, int size) {
        float[] b = buffers[slot.ordinal()];
        if (b == null || b.length < size) {
            b = new float[Math.max(size, b == null ? 0 : b.length + b.length / 2)];
            buffers[slot.ordinal()] = b;
        }
        return b;
    }

    /** An int buffer of at least {@code size} entries (context offsets). */
    public int[] ints(int size) {
        if (ints.length < size) {
            ints = new int[Math.max(size, ints.length + ints.length / 2)];
        }
        return ints;
    }
}
