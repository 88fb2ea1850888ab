package dev.dsv2.expert;

import org.junit.jupiter.api.Test;

import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How the contract's dsv2.shard.* keys become "shard i of N, replica r of R". */
class ShardSettingsTest {
    private static final OptionalInt NONE = OptionalInt.empty();

    @Test
    void theStatefulSetOrdinalGivesIndexOrdinalModNAndReplicaOrdinalDivN() {
        // 2 shards x 3 replicas = pods 0..5; pod 5 is shard 1, replica 2.
        ShardSettings s = ShardSettings.resolve(2, NONE, OptionalInt.of(5), 3, true);
        assertEquals(1, s.shardIndex());
        assertEquals(2, s.replica());
        assertEquals(3, s.replicas());
        assertEquals("shard 1/2 replica 2/3", s.label());
        ShardSettings first = ShardSettings.resolve(2, NONE, OptionalInt.of(0), 3, false);
        assertEquals(0, first.shardIndex());
        assertEquals(0, first.replica());
    }

    @Test
    void anExplicitIndexIsUsedAsIs() {
        ShardSettings s = ShardSettings.resolve(4, OptionalInt.of(3), NONE, 1, true);
        assertEquals(3, s.shardIndex());
        assertEquals("shard 3/4", s.label());
    }

    @Test
    void aSingleShardNeedsNoIndex() {
        assertEquals(0, ShardSettings.resolve(1, NONE, NONE, 1, true).shardIndex());
    }

    @Test
    void severalShardsWithoutIndexOrOrdinalAreRefusedNamingBothKeys() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ShardSettings.resolve(2, NONE, NONE, 1, true));
        assertTrue(e.getMessage().contains("dsv2.shard.index") && e.getMessage().contains("dsv2.shard.ordinal"),
                e.getMessage());
    }

    @Test
    void inconsistentOrOutOfRangeValuesAreRefusedWithTheValues() {
        IllegalArgumentException contradiction = assertThrows(IllegalArgumentException.class,
                () -> ShardSettings.resolve(2, OptionalInt.of(0), OptionalInt.of(3), 2, true));
        assertTrue(contradiction.getMessage().contains("dsv2.shard.index 0 contradicts dsv2.shard.ordinal 3"),
                contradiction.getMessage());
        IllegalArgumentException ordinal = assertThrows(IllegalArgumentException.class,
                () -> ShardSettings.resolve(2, NONE, OptionalInt.of(4), 2, true));
        assertTrue(ordinal.getMessage().contains("ordinal (DSV2_SHARD_ORDINAL) 4 is outside [0, 4)"),
                ordinal.getMessage());
        IllegalArgumentException index = assertThrows(IllegalArgumentException.class,
                () -> ShardSettings.resolve(2, OptionalInt.of(2), NONE, 1, true));
        assertTrue(index.getMessage().contains("must be in [0, 2)") && index.getMessage().contains("got 2"),
                index.getMessage());
        IllegalArgumentException count = assertThrows(IllegalArgumentException.class,
                () -> ShardSettings.resolve(0, NONE, NONE, 1, true));
        assertTrue(count.getMessage().contains("dsv2.shard.count (DSV2_SHARD_COUNT) must be >= 1, got 0"),
                count.getMessage());
        IllegalArgumentException replicas = assertThrows(IllegalArgumentException.class,
                () -> ShardSettings.resolve(2, OptionalInt.of(0), NONE, 0, true));
        assertTrue(replicas.getMessage().contains("dsv2.shard.replicas"), replicas.getMessage());
    }
}
