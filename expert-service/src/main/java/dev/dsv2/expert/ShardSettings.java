package dev.dsv2.expert;

import java.util.OptionalInt;

/**
 * Which shard this expert-service process is, resolved from the configuration contract:
 * {@code dsv2.shard.count} N, {@code dsv2.shard.index} i or else {@code dsv2.shard.ordinal} (the StatefulSet pod
 * ordinal: index = ordinal % N, replica = ordinal / N), {@code dsv2.shard.replicas} R (pods = N*R) and
 * {@code dsv2.shard.shared-experts}.
 *
 * @param shardIndex    i in [0, N)
 * @param shardCount    N >= 1
 * @param replicas      R >= 1, the replication factor of every shard
 * @param replica       which replica of shard i this process is, in [0, R) (0 when only the index was given)
 * @param sharedExperts whether this process also serves the shared experts
 */
public record ShardSettings(int shardIndex, int shardCount, int replicas, int replica, boolean sharedExperts) {

    public ShardSettings {
        if (shardCount < 1) {
            throw new IllegalArgumentException("dsv2.shard.count (DSV2_SHARD_COUNT) must be >= 1, got " + shardCount);
        }
        if (replicas < 1) {
            throw new IllegalArgumentException("dsv2.shard.replicas (DSV2_SHARD_REPLICAS) must be >= 1, got "
                    + replicas);
        }
        if (shardIndex < 0 || shardIndex >= shardCount) {
            throw new IllegalArgumentException("dsv2.shard.index (DSV2_SHARD_INDEX) must be in [0, " + shardCount
                    + ") for dsv2.shard.count " + shardCount + ", got " + shardIndex);
        }
        if (replica < 0 || replica >= replicas) {
            throw new IllegalArgumentException("replica " + replica + " of shard " + shardIndex + " is outside [0, "
                    + replicas + ") (dsv2.shard.replicas " + replicas + ")");
        }
    }

    /**
     * Resolves the contract's keys. The index wins when given; otherwise it is derived from the ordinal; with
     * neither, only a single shard (N = 1) is unambiguous.
     *
     * @throws IllegalArgumentException naming the keys and values that do not fit together
     */
    public static ShardSettings resolve(int count, OptionalInt index, OptionalInt ordinal, int replicas,
                                        boolean sharedExperts) {
        if (count < 1) {
            throw new IllegalArgumentException("dsv2.shard.count (DSV2_SHARD_COUNT) must be >= 1, got " + count);
        }
        if (replicas < 1) {
            throw new IllegalArgumentException("dsv2.shard.replicas (DSV2_SHARD_REPLICAS) must be >= 1, got "
                    + replicas);
        }
        if (ordinal.isPresent()) {
            int o = ordinal.getAsInt();
            if (o < 0 || o >= count * replicas) {
                throw new IllegalArgumentException("dsv2.shard.ordinal (DSV2_SHARD_ORDINAL) " + o
                        + " is outside [0, " + count * replicas + "): dsv2.shard.count " + count
                        + " x dsv2.shard.replicas " + replicas + " pods");
            }
            if (index.isPresent() && index.getAsInt() != o % count) {
                throw new IllegalArgumentException("dsv2.shard.index " + index.getAsInt()
                        + " contradicts dsv2.shard.ordinal " + o + " (ordinal % count = " + o % count
                        + " for dsv2.shard.count " + count + "); set only one of them");
            }
            return new ShardSettings(o % count, count, replicas, o / count, sharedExperts);
        }
        if (index.isPresent()) {
            return new ShardSettings(index.getAsInt(), count, replicas, 0, sharedExperts);
        }
        if (count == 1) {
            return new ShardSettings(0, 1, replicas, 0, sharedExperts);
        }
        throw new IllegalArgumentException("dsv2.shard.count is " + count + " but neither dsv2.shard.index"
                + " (DSV2_SHARD_INDEX) nor dsv2.shard.ordinal (DSV2_SHARD_ORDINAL) is set: this process cannot tell"
                + " which shard it is");
    }

    /** "shard i/N" (plus the replica when there are several), for logs and messages. */
    public String label() {
        return "shard " + shardIndex + "/" + shardCount + (replicas > 1 ? " replica " + replica + "/" + replicas : "");
    }
}
