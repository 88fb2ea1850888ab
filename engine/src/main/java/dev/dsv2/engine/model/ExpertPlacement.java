package dev.dsv2.engine.model;

import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * Which routed experts one expert shard owns. By default shard {@code i} of {@code N} owns the contiguous range
 * {@code [i*E/N, (i+1)*E/N)} of the {@code E} routed experts (integer division), the same range in every MoE layer:
 * the ranges of shards {@code 0..N-1} partition {@code [0, E)}, each holds {@code floor(E/N)} or {@code ceil(E/N)}
 * experts, and no shard is empty (that is why {@code N <= E}). A load-balanced {@link PlacementPlan} instead gives
 * each shard its own set per layer ({@link #planned}), where hot experts may be held by several shards.
 *
 * @param shardIndex i, in {@code [0, shardCount)}
 * @param shardCount N, in {@code [1, numExperts]} (contiguous), or {@code >= 1} (planned)
 * @param numExperts E, the model's {@code n_routed_experts}
 * @param perLayer   null for the contiguous default; else {@code [layer][]}, the owned experts of each MoE layer
 *                   (ascending; null for dense layers)
 */
public record ExpertPlacement(int shardIndex, int shardCount, int numExperts, int[][] perLayer) {

    public ExpertPlacement {
        if (numExperts < 1) {
            throw new IllegalArgumentException("expert placement: the model has " + numExperts
                    + " routed experts (n_routed_experts); sharding needs a MoE model with >= 1");
        }
        if (shardCount < 1 || (perLayer == null && shardCount > numExperts)) {
            throw new IllegalArgumentException("expert placement: shard count " + shardCount + " must be in [1, "
                    + numExperts + "] (at most one shard per routed expert)");
        }
        if (shardIndex < 0 || shardIndex >= shardCount) {
            throw new IllegalArgumentException("expert placement: shard index " + shardIndex + " must be in [0, "
                    + shardCount + ") for " + shardCount + " shards");
        }
    }

    /** Shard {@code shardIndex} of {@code shardCount} with the contiguous default ranges. */
    public ExpertPlacement(int shardIndex, int shardCount, int numExperts) {
        this(shardIndex, shardCount, numExperts, null);
    }

    /** A shard of a {@link PlacementPlan}: {@code owned[layer]} its experts of each MoE layer (null for dense). */
    public static ExpertPlacement planned(int shardIndex, int shardCount, int numExperts, int[][] owned) {
        return new ExpertPlacement(shardIndex, shardCount, numExperts, owned.clone());
    }

    /** The single shard that owns every expert (everything local). */
    public static ExpertPlacement all(int numExperts) {
        return new ExpertPlacement(0, 1, numExperts);
    }

    /** Whether this is the contiguous default (the same experts in every layer). */
    public boolean contiguous() {
        return perLayer == null;
    }

    /** First owned expert, inclusive (contiguous default only). */
    public int first() {
        requireContiguous();
        return (int) ((long) shardIndex * numExperts / shardCount);
    }

    /** Last owned expert, exclusive (contiguous default only). */
    public int end() {
        requireContiguous();
        return (int) ((long) (shardIndex + 1) * numExperts / shardCount);
    }

    private void requireContiguous() {
        if (perLayer != null) {
            throw new IllegalStateException("a planned placement has no single range; use owned(layer)");
        }
    }

    /** Whether this shard owns {@code expert} (contiguous default only: the same in every layer). */
    public boolean owns(int expert) {
        return expert >= first() && expert < end();
    }

    /** Whether this shard owns {@code expert} in MoE layer {@code layer}. */
    public boolean owns(int layer, int expert) {
        if (perLayer == null) {
            return expert >= first() && expert < end();
        }
        int[] o = layer >= 0 && layer < perLayer.length ? perLayer[layer] : null;
        return o != null && Arrays.binarySearch(o, expert) >= 0;
    }

    /** The owned experts, ascending (contiguous default only). */
    public int[] owned() {
        return IntStream.range(first(), end()).toArray();
    }

    /** The owned experts of MoE layer {@code layer}, ascending (empty where the plan has none). */
    public int[] owned(int layer) {
        if (perLayer == null) {
            return owned();
        }
        int[] o = layer >= 0 && layer < perLayer.length ? perLayer[layer] : null;
        return o == null ? new int[0] : o.clone();
    }

    /** What this shard holds in {@code layer}, for logs: "experts 0..7" or "experts [3, 9, 12]". */
    public String describe(int layer) {
        return perLayer == null ? "experts " + first() + ".." + (end() - 1)
                : "experts " + Arrays.toString(owned(layer));
    }

    /** The shard index that owns {@code expert} under {@code shardCount} shards of {@code numExperts} experts. */
    public static int ownerOf(int expert, int shardCount, int numExperts) {
        if (expert < 0 || expert >= numExperts) {
            throw new IllegalArgumentException("expert " + expert + " is outside [0, " + numExperts + ")");
        }
        // The largest i with i*E/N <= expert; floor division keeps the ranges exact for any E, N.
        int i = (int) (((long) expert * shardCount + shardCount - 1) / numExperts);
        while (i > 0 && (long) i * numExperts / shardCount > expert) {
            i--;
        }
        while (i + 1 < shardCount && (long) (i + 1) * numExperts / shardCount <= expert) {
            i++;
        }
        return i;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ExpertPlacement p && p.shardIndex == shardIndex && p.shardCount == shardCount
                && p.numExperts == numExperts && Arrays.deepEquals(p.perLayer, perLayer);
    }

    @Override
    public int hashCode() {
        return (shardIndex * 31 + shardCount) * 31 + numExperts + Arrays.deepHashCode(perLayer);
    }

    @Override
    public String toString() {
        return "shard " + shardIndex + "/" + shardCount + (perLayer == null ? " (experts " + first() + ".." + (end() - 1)
                + " of " + numExperts + ")" : " (a load-balanced placement of " + numExperts + " experts)");
    }
}
