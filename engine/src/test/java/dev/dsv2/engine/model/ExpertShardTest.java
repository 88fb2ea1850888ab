package dev.dsv2.engine.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.testsupport.TestCheckpoints;
import dev.dsv2.testsupport.TestVectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ExpertPlacement and ExpertShard: who owns which experts, what a shard maps, what it computes. */
class ExpertShardTest {
    private static final ModelConfig C = TestCheckpoints.TINY;
    private static final int D = C.hiddenSize();
    private static final int TOP_K = C.numExpertsPerTok();
    private static Path dir;
    private static VectorBackend backend;
    private static ExpertShard all;

    @BeforeAll
    static void load() {
        dir = TestCheckpoints.tiny(11);
        backend = new VectorBackend(2);
        all = ExpertShard.load(dir, backend, ExpertPlacement.all(C.nRoutedExperts()), true, null);
    }

    @AfterAll
    static void close() {
        all.close();
        backend.close();
    }

    @Test
    void shardsOwnContiguousRangesThatPartitionTheExperts() {
        assertArrayEquals(new int[]{0, 1, 2, 3, 4, 5, 6, 7}, new ExpertPlacement(0, 2, 16).owned());
        assertArrayEquals(new int[]{8, 9, 10, 11, 12, 13, 14, 15}, new ExpertPlacement(1, 2, 16).owned());
        // V2-Lite's 64 experts on 3 shards: [0, 21), [21, 42), [42, 64).
        assertEquals(21, new ExpertPlacement(1, 3, 64).first());
        assertEquals(42, new ExpertPlacement(1, 3, 64).end());
        for (int e : new int[]{5, 7, 16, 64}) {
            for (int n = 1; n <= e; n++) {
                int[] owner = new int[e];
                Arrays.fill(owner, -1);
                for (int i = 0; i < n; i++) {
                    ExpertPlacement p = new ExpertPlacement(i, n, e);
                    assertTrue(p.end() > p.first(), "no empty shard: " + p);
                    for (int x : p.owned()) {
                        assertEquals(-1, owner[x], "expert " + x + " owned twice for N=" + n);
                        owner[x] = i;
                    }
                }
                for (int x = 0; x < e; x++) {
                    assertEquals(owner[x], ExpertPlacement.ownerOf(x, n, e), "owner of " + x + " for N=" + n + ", E=" + e);
                    assertTrue(new ExpertPlacement(owner[x], n, e).owns(x));
                }
            }
        }
    }

    @Test
    void placementsThatCannotExistAreRefusedWithTheirRange() {
        IllegalArgumentException index = assertThrows(IllegalArgumentException.class,
                () -> new ExpertPlacement(2, 2, 16));
        assertTrue(index.getMessage().contains("shard index 2 must be in [0, 2)"), index.getMessage());
        IllegalArgumentException count = assertThrows(IllegalArgumentException.class,
                () -> new ExpertPlacement(0, 17, 16));
        assertTrue(count.getMessage().contains("shard count 17 must be in [1, 16]"), count.getMessage());
    }

    @Test
    void shardZeroOfTwoMapsHalfTheRoutedExpertsPlusTheSharedExperts() {
        long perExpert = 3L * C.moeIntermediateSize() * D * 2;            // gate, up, down in bf16
        long routedAll = 2 * C.nRoutedExperts() * perExpert;               // 2 MoE layers
        long sharedAll = 2 * 3L * C.sharedIntermediateSize() * D * 2;
        assertEquals(routedAll + sharedAll, all.weightBytes());
        try (ExpertShard half = ExpertShard.load(dir, backend, new ExpertPlacement(0, 2, 16), true, null);
             ExpertShard bare = ExpertShard.load(dir, backend, new ExpertPlacement(1, 2, 16), false, null)) {
            assertEquals(routedAll / 2 + sharedAll, half.weightBytes());
            assertEquals(routedAll / 2, bare.weightBytes());
            assertTrue(half.holdsShared());
            assertFalse(bare.holdsShared());
            assertNull(bare.shared(1));
            assertTrue(half.routed().owns(1, 7) && !half.routed().owns(1, 8), "shard 0 holds experts 0..7 only");
        }
    }

    @Test
    void twoShardsPartialSumsAddUpToTheWholeLayerWithSharedExpertsOnOne() {
        int rows = 9;
        float[] x = randomRows(rows, 3);
        int[] ids = new int[rows * TOP_K];
        float[] weights = new float[rows * TOP_K];
        Random rnd = new Random(4);
        for (int r = 0; r < rows; r++) {
            int[] perm = rnd.ints(0, 16).distinct().limit(TOP_K).toArray();
            for (int k = 0; k < TOP_K; k++) {
                ids[r * TOP_K + k] = perm[k];
                weights[r * TOP_K + k] = rnd.nextFloat();
            }
        }
        float[] want = new float[rows * D];
        all.routed().compute(2, x, rows, ids, weights, TOP_K, want);
        float[] shared = new float[rows * D];
        all.shared(2).forward(backend, backend.wrapHost(x, rows * D), rows, backend.wrapHost(shared, rows * D),
                new Workspace(backend));
        for (int i = 0; i < want.length; i++) {
            want[i] += shared[i];
        }
        try (ExpertShard s0 = ExpertShard.load(dir, backend, new ExpertPlacement(0, 2, 16), true, null);
             ExpertShard s1 = ExpertShard.load(dir, backend, new ExpertPlacement(1, 2, 16), false, null)) {
            float[] sum = new float[rows * D];
            for (ExpertShard s : new ExpertShard[]{s0, s1}) {
                int[] mine = ids.clone();
                for (int i = 0; i < mine.length; i++) {
                    mine[i] = s.placement().owns(mine[i]) ? mine[i] : ExpertShard.SKIP;
                }
                float[] part = new float[rows * D];
                s.compute(2, x, rows, mine, weights, TOP_K, s == s0, part);
                for (int i = 0; i < sum.length; i++) {
                    sum[i] += part[i];
                }
            }
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], sum[i], 1e-5f * Math.max(1f, Math.abs(want[i])), "element " + i);
            }
        }
    }

    @Test
    void aShardRefusesExpertsItDoesNotOwnAndDenseLayersNamingThem() {
        try (ExpertShard s0 = ExpertShard.load(dir, backend, new ExpertPlacement(0, 2, 16), false, null)) {
            float[] x = randomRows(1, 1);
            int[] ids = {0, 1, 2, 3, 4, 9};
            float[] w = new float[6];
            IllegalArgumentException notOwned = assertThrows(IllegalArgumentException.class,
                    () -> s0.compute(1, x, 1, ids, w, TOP_K, false, new float[D]));
            assertTrue(notOwned.getMessage().contains("expert 9") && notOwned.getMessage().contains("shard 0/2"),
                    notOwned.getMessage());
            IllegalArgumentException dense = assertThrows(IllegalArgumentException.class,
                    () -> s0.compute(0, x, 1, new int[]{0, 1, 2, 3, 4, 5}, w, TOP_K, false, new float[D]));
            assertTrue(dense.getMessage().contains("layer 0 is not a MoE layer") && dense.getMessage().contains("1..2"),
                    dense.getMessage());
            IllegalArgumentException shared = assertThrows(IllegalArgumentException.class,
                    () -> s0.compute(1, x, 1, new int[]{0, 1, 2, 3, 4, 5}, w, TOP_K, true, new float[D]));
            assertTrue(shared.getMessage().contains("does not hold the shared experts"), shared.getMessage());
        }
    }

    private static float[] randomRows(int rows, long seed) {
        return TestVectors.gaussian(rows * D, seed);
    }
}
