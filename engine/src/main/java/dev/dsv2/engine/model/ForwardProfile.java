package dev.dsv2.engine.model;

import java.util.Arrays;

/**
 * Where the time of forward passes goes, by phase, and how many routed experts they touched — what the benchmark
 * reports. Off unless set on a {@link Workspace} ({@link Workspace#profile(ForwardProfile)}); when off, the forward
 * pass only tests a null reference per phase. Phases are timed on the thread that runs the forward pass (kernels
 * inside a phase may use every core).
 *
 * <ul>
 *   <li>{@code ATTENTION}: MLA projections, cache writes, rope, attention and o_proj;</li>
 *   <li>{@code GATE}: the MoE router (gate matmul, softmax, top-k);</li>
 *   <li>{@code EXPERTS}: routed + shared experts and their combination;</li>
 *   <li>{@code DENSE_MLP}: the dense SwiGLU layers;</li>
 *   <li>{@code LM_HEAD}: final norm and the vocabulary projection;</li>
 *   <li>{@code SAMPLING}: added by the caller around its sampler;</li>
 *   <li>{@code OTHER}: the rest of the forward pass (embedding lookup, layer norms, residual adds).</li>
 * </ul>
 */
public final class ForwardProfile {
    public enum Phase { ATTENTION, GATE, EXPERTS, DENSE_MLP, LM_HEAD, SAMPLING, OTHER }

    private final long[] nanos = new long[Phase.values().length];
    private long forwardNanos;
    private long forwards;
    private long expertsTouched;
    private long[] seen = new long[2];

    /** Adds the time since {@code startNanos} ({@link System#nanoTime()}) to {@code phase}. */
    public void add(Phase phase, long startNanos) {
        nanos[phase.ordinal()] += System.nanoTime() - startNanos;
    }

    /** Records one whole forward pass that started at {@code startNanos}. */
    void forwardDone(long startNanos) {
        forwardNanos += System.nanoTime() - startNanos;
        forwards++;
    }

    /** Counts the distinct experts among {@code ids[0, n)} (one MoE layer of one step). */
    void countExperts(int[] ids, int n) {
        Arrays.fill(seen, 0L);
        int distinct = 0;
        for (int i = 0; i < n; i++) {
            int e = ids[i];
            if (e < 0) {
                continue;
            }
            if ((e >> 6) >= seen.length) {
                seen = Arrays.copyOf(seen, (e >> 6) + 1);
            }
            long bit = 1L << (e & 63);
            if ((seen[e >> 6] & bit) == 0) {
                seen[e >> 6] |= bit;
                distinct++;
            }
        }
        expertsTouched += distinct;
    }

    /** Nanoseconds spent in {@code phase}; {@code OTHER} is the forward time not in any other forward phase. */
    public long nanos(Phase phase) {
        if (phase != Phase.OTHER) {
            return nanos[phase.ordinal()];
        }
        long inPhases = 0;
        for (Phase p : Phase.values()) {
            if (p != Phase.OTHER && p != Phase.SAMPLING) {
                inPhases += nanos[p.ordinal()];
            }
        }
        return Math.max(0, forwardNanos - inPhases);
    }

    /** Total time of the forward passes recorded. */
    public long forwardNanos() {
        return forwardNanos;
    }

    public long forwards() {
        return forwards;
    }

    /** Sum over MoE layers and forward passes of the distinct routed experts each layer's step used. */
    public long expertsTouched() {
        return expertsTouched;
    }

    public void reset() {
        Arrays.fill(nanos, 0L);
        forwardNanos = 0;
        forwards = 0;
        expertsTouched = 0;
    }
}
