package dev.dsv2.engine.model;

import java.util.stream.IntStream;

/**
 * Which routed experts one expert shard owns: shard {@code i} of {@code N} owns the contiguous range
 * {@code [i*E/N, (i+1)*E/N)} of the {@code E} routed experts (integer division), the same range in every MoE
 * layer. The ranges of shards {@code 0..N-1} partition {@code [0, E)}, each holds {@code floor(E/N)} or
 * {@code ceil(E/N)} experts, and no shard is empty (that is why {@code N <= E}).
 *
 * @param shardIndex i, in {@code [0, shardCount)}
 * @param shardCount N, in {@code [1, numExperts]}
 * @param numExperts E, the model's {@code n_routed_experts}
 */
public record ExpertPlacement(int shardIndex, int shardCount, int numExperts) {

    public ExpertPlacement {
        if (numExperts < 1) {
            throw new IllegalArgumentException("expert placement: the model has " + numExperts
                    + " routed experts (n_routed_experts); sharding needs a MoE model with >= 1");
        }
        if (shardCount < 1 || shardCount > numExperts) {
            throw new IllegalArgumentException("expert placement: shard count " + shardCount + " must be in [1, "
                    + numExperts + "] (at most one shard per routed expert)");
        }
        if (shardIndex < 0 || shardIndex >= shardCount) {
            throw new IllegalArgumentException("expert placement: shard index " + shardIndex + " must be in [0, "
                    + shardCount + ") for " + shardCount + " shards");
        }
    }

    /** The single shard that owns every expert (everything local). */
    public static ExpertPlacement all(int numExperts) {
        return new ExpertPlacement(0, 1, numExperts);
    }

    /** First owned expert, inclusive. */
    public int first() {
        return (int) ((long) shardIndex * numExperts / shardCount);
    }

    /** Last owned expert, exclusive. */
    public int end() {
        return (int) ((long) (shardIndex + 1) * numExperts / shardCount);
    }

    public boolean owns(int expert) {
        return expert >= first() && expert < end();
    }

    /** The owned experts, ascending. */
    public int[] owned() {
        return IntStream.range(first(), end()).toArray();
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
    public String toString() {
        return "shard " + shardIndex + "/" + shardCount + " (experts " + first() + ".." + (end() - 1) + " of "
                + numExperts + ")";
    }
}
