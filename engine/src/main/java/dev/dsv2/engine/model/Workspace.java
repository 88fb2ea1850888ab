package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.ExpertGroups;

/**
 * Reusable scratch buffers of one forward pass, grown on demand and kept between passes so the decode loop does not
 * allocate. One workspace per thread that runs forward passes (never shared concurrently). It also carries the
 * optional {@link ForwardProfile} of the passes run with it.
 */
public final class Workspace {
    /** Named float slots; each is an independent buffer. */
    public enum Slot {
        HIDDEN, ROPE, NORMED, ATTN_OUT, Q, KV_A, Q_A, KV_EXPANDED, LATENT_CTX, SCORES, Q_LATENT, CTX_LATENT,
        MLP_OUT, GATE_LOGITS, EXPERT_IN, EXPERT_OUT, SHARED_OUT, LOGITS_IN, LOGITS, Q_GATHERED, ATTN_GATHERED, KEYS_T,
        ROUTE_WEIGHTS, GROUP_SCORES
    }

    /** Named int slots. */
    public enum IntSlot {
        CONTEXT_OFFSETS, CONTEXT_STARTS, ABSORBED_ROWS, EXPERT_IDS, EXPERT_COUNTS, EXPERT_FILL, EXPERT_ORDER
    }

    private final float[][] buffers = new float[Slot.values().length][];
    private final int[][] intBuffers = new int[IntSlot.values().length][];
    private final ExpertGroups expertGroups = new ExpertGroups();
    private ForwardProfile profile;
    private final MlaAttention.AbsorbedTask absorbedTask = new MlaAttention.AbsorbedTask();
    private final DecoderLayer.LayerFinish layerFinish = new DecoderLayer.LayerFinish();

    /** A buffer of at least {@code size} floats; contents are unspecified. */
    public float[] get(Slot slot, int size) {
        float[] b = buffers[slot.ordinal()];
        if (b == null || b.length < size) {
            b = new float[Math.max(size, b == null ? 0 : b.length + b.length / 2)];
            buffers[slot.ordinal()] = b;
        }
        return b;
    }

    /** An int buffer of at least {@code size} entries; contents are unspecified. */
    public int[] ints(IntSlot slot, int size) {
        int[] b = intBuffers[slot.ordinal()];
        if (b == null || b.length < size) {
            b = new int[Math.max(size, b == null ? 0 : b.length + b.length / 2)];
            intBuffers[slot.ordinal()] = b;
        }
        return b;
    }

    /** The grouping of rows for one SwiGLU kernel call (cleared by the caller before use). */
    public ExpertGroups expertGroups() {
        return expertGroups;
    }

    /** The reusable end of the layer pending with this workspace ({@link DecoderLayer#begin}). */
    DecoderLayer.LayerFinish layerFinish() {
        return layerFinish;
    }

    /** The reusable task object of the decode attention's parallel phases. */
    MlaAttention.AbsorbedTask absorbedTask() {
        return absorbedTask;
    }

    /** The profile forward passes with this workspace record into, or null (profiling off). */
    public ForwardProfile profile() {
        return profile;
    }

    /** Turns profiling on ({@code profile} non-null) or off (null) for forward passes with this workspace. */
    public Workspace profile(ForwardProfile profile) {
        this.profile = profile;
        return this;
    }
}
