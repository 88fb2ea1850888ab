package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;
import dev.dsv2.engine.kernel.ExpertGroups;

/**
 * Reusable scratch buffers of one forward pass, allocated through the backend the workspace is bound to, grown on
 * demand and kept between passes so the decode loop does not allocate. Int slots (cache offsets, row indices,
 * routing ids) and the routing weights are small host metadata. One workspace per thread that runs forward passes
 * (never shared concurrently). It also carries the optional {@link ForwardProfile} of the passes run with it.
 */
public final class Workspace implements AutoCloseable {
    /** Named activation slots; each is an independent backend buffer. */
    public enum Slot {
        HIDDEN, ROPE, NORMED, ATTN_OUT, Q, KV_A, Q_A, MLP_OUT, SHARED_OUT, LOGITS_IN, LOGITS
    }

    /** Named int slots (host metadata). */
    public enum IntSlot {
        CONTEXT_OFFSETS, CONTEXT_STARTS, ABSORBED_ROWS, EXPERT_IDS, EXPERT_COUNTS, EXPERT_FILL, EXPERT_ORDER,
        CACHE_SLOTS
    }

    private final Backend backend;
    private final Buffer[] buffers = new Buffer[Slot.values().length];
    private final int[][] intBuffers = new int[IntSlot.values().length][];
    private float[] routeWeights = new float[0];
    private final ExpertGroups expertGroups = new ExpertGroups();
    private ForwardProfile profile;
    private final DecoderLayer.LayerFinish layerFinish = new DecoderLayer.LayerFinish();

    /** A workspace whose buffers {@code backend} allocates (the backend of the model it runs). */
    public Workspace(Backend backend) {
        this.backend = backend;
    }

    /** The backend this workspace's buffers belong to. */
    public Backend backend() {
        return backend;
    }

    /** A buffer of at least {@code size} floats; contents are unspecified. */
    public Buffer get(Slot slot, long size) {
        Buffer b = buffers[slot.ordinal()];
        if (b == null || b.length() < size) {
            long grown = Math.max(size, b == null ? 0 : b.length() + b.length() / 2);
            if (b != null) {
                b.close();
            }
            b = backend.allocate(grown);
            buffers[slot.ordinal()] = b;
        }
        return b;
    }

    /** The routing weights (host metadata), at least {@code size} of them; contents are unspecified. */
    public float[] routeWeights(int size) {
        if (routeWeights.length < size) {
            routeWeights = new float[Math.max(size, routeWeights.length + routeWeights.length / 2)];
        }
        return routeWeights;
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

    /** The profile forward passes with this workspace record into, or null (profiling off). */
    public ForwardProfile profile() {
        return profile;
    }

    /** Turns profiling on ({@code profile} non-null) or off (null) for forward passes with this workspace. */
    public Workspace profile(ForwardProfile profile) {
        this.profile = profile;
        return this;
    }

    /** Releases the buffers (device memory; host buffers go to the garbage collector). */
    @Override
    public void close() {
        for (int i = 0; i < buffers.length; i++) {
            if (buffers[i] != null) {
                buffers[i].close();
                buffers[i] = null;
            }
        }
    }
}
