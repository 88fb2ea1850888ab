package dev.dsv2.engine.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.testsupport.TestCheckpoints;
import dev.dsv2.testsupport.TestVectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** EPLB-style placement: balance, replicas of hot experts, the file round trip, and a shard that loads one. */
class PlacementPlanTest {
    private static final ModelConfig C = TestCheckpoints.TINY;

    /** Layer 1: experts 0..3 get 1000 tokens each, the rest 10; layer 2: uniform. */
    private static long[][] skewed() {
        long[][] t = new long[C.numHiddenLayers()][];
        for (int l = 0; l < t.length; l++) {
            if (C.isMoeLayer(l)) {
                t[l] = new long[16];
                for (int e = 0; e < 16; e++) {
                    t[l][e] = l == 1 ? (e < 4 ? 1000 : 10) : 50;
                }
            }
        }
        return t;
    }

    @Test
    void hotExpertsThatTheContiguousRangesPutOnOneShardAreSpreadOut() {
        PlacementPlan plan = PlacementPlan.balance(skewed(), 16, 2, 0);
        // Contiguous: shard 0 gets 4000 + 40, shard 1 gets 80 -> max/mean 1.96. Balanced: 2 hot experts each.
        assertEquals(1.0, plan.imbalance(1), 1e-9);
        assertEquals(1.0, plan.imbalance(2), 1e-9);
        for (int s = 0; s < 2; s++) {
            int[] held = plan.shards()[1][s];
            assertEquals(8, held.length, "equal slots per shard");
            assertEquals(2, Arrays.stream(held).filter(e -> e < 4).count(), "shard " + s + ": " + Arrays.toString(held));
        }
        assertEquals(null, plan.shards()[0], "the dense layer has no placement");
    }

    @Test
    void replicasGoToTheHottestExpertAndEveryExpertIsHeldOnce() {
        long[][] t = skewed();
        t[1][7] = 100_000; // one very hot expert
        PlacementPlan plan = PlacementPlan.balance(t, 16, 3, 2);
        int copies = 0;
        boolean[] held = new boolean[16];
        for (int[] shard : plan.shards()[1]) {
            assertEquals(6, shard.length, "ceil((16 + 2) / 3) slots");
            for (int e : shard) {
                held[e] = true;
                copies += e == 7 ? 1 : 0;
            }
        }
        assertEquals(3, copies, "expert 7 on all three shards");
        for (boolean h : held) {
            assertTrue(h);
        }
        assertTrue(plan.imbalance(1) < 1.1, "max/mean " + plan.imbalance(1));
    }

    @Test
    void impossiblePlansAreRefusedNamingTheLimit() {
        IllegalArgumentException tooMany = assertThrows(IllegalArgumentException.class,
                () -> PlacementPlan.balance(skewed(), 16, 2, 17));
        assertTrue(tooMany.getMessage().contains("at most 1 more"), tooMany.getMessage());
        IllegalArgumentException shards = assertThrows(IllegalArgumentException.class,
                () -> PlacementPlan.balance(skewed(), 16, 0, 0));
        assertTrue(shards.getMessage().contains("shards: 0 must be in [1, 16]"), shards.getMessage());
    }

    @Test
    void theFileRoundTripsAndABrokenOneIsRefusedNamingTheProblem(@TempDir Path tmp) throws Exception {
        PlacementPlan plan = PlacementPlan.balance(skewed(), 16, 2, 1);
        Path f = tmp.resolve("placement.json");
        plan.write(f);
        PlacementPlan back = PlacementPlan.read(f, C.numHiddenLayers(), 16);
        assertEquals(2, back.shardCount());
        for (int l = 1; l < C.numHiddenLayers(); l++) {
            for (int s = 0; s < 2; s++) {
                assertArrayEquals(plan.shards()[l][s], back.shards()[l][s], "layer " + l + " shard " + s);
            }
        }
        IllegalArgumentException other = assertThrows(IllegalArgumentException.class,
                () -> PlacementPlan.read(f, C.numHiddenLayers(), 64));
        assertTrue(other.getMessage().contains("it is for 16 routed experts, the model has 64"), other.getMessage());
        String head = "{\"format\": \"dsv2-expert-placement/1\", \"num_experts\": 16, \"shard_count\": 2, ";
        Files.writeString(f, head + "\"layers\": [{\"layer\": 1, \"shards\": [[1, 2, 3, 4, 5, 6, 7],"
                + " [8, 9, 10, 11, 12, 13, 14, 15]]}]}");
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> PlacementPlan.read(f, C.numHiddenLayers(), 16));
        assertTrue(missing.getMessage().contains("layer 1: no shard holds expert 0"), missing.getMessage());
        Files.writeString(f, head + "\"layers\": [{\"layer\": 1, \"shards\": [[0, 0], [1]]}]}");
        IllegalArgumentException twice = assertThrows(IllegalArgumentException.class,
                () -> PlacementPlan.read(f, C.numHiddenLayers(), 16));
        assertTrue(twice.getMessage().contains("layer 1, shard 0: expert 0 is outside [0, 16) or listed twice"),
                twice.getMessage());
        Files.writeString(f, "{\"format\": \"something else\"}");
        IllegalArgumentException format = assertThrows(IllegalArgumentException.class,
                () -> PlacementPlan.read(f, C.numHiddenLayers(), 16));
        assertTrue(format.getMessage().contains("expected 'dsv2-expert-placement/1'"), format.getMessage());
    }

    @Test
    void aShardOfAPlanMapsExactlyItsExpertsPerLayerAndComputesThem() {
        PlacementPlan plan = PlacementPlan.balance(skewed(), 16, 2, 0);
        Path dir = TestCheckpoints.tiny(11);
        try (VectorBackend backend = new VectorBackend(1);
             ExpertShard all = ExpertShard.load(dir, backend, ExpertPlacement.all(16), false, null);
             ExpertShard s0 = ExpertShard.load(dir, backend, plan.forShard(0), false, null)) {
            long perExpert = 3L * C.moeIntermediateSize() * C.hiddenSize() * 2;
            assertEquals(2 * 8 * perExpert, s0.weightBytes(), "8 experts in each of the 2 MoE layers");
            int[] mine = plan.shards()[1][0];
            assertTrue(s0.routed().owns(1, mine[0]));
            int notMine = java.util.stream.IntStream.range(0, 16).filter(e -> Arrays.binarySearch(mine, e) < 0)
                    .findFirst().orElseThrow();
            assertFalse(s0.routed().owns(1, notMine));
            int topK = C.numExpertsPerTok();
            int[] ids = new int[topK];
            Arrays.fill(ids, ExpertShard.SKIP);
            ids[0] = mine[0];
            ids[1] = mine[1];
            float[] w = new float[topK];
            w[0] = 0.5f;
            w[1] = 0.25f;
            float[] x = TestVectors.gaussian(C.hiddenSize(), 3);
            float[] got = new float[C.hiddenSize()];
            s0.compute(1, x, 1, ids, w, topK, false, got);
            float[] want = new float[C.hiddenSize()];
            all.compute(1, x, 1, ids, w, topK, false, want);
            assertArrayEquals(want, got);
            int[] bad = new int[topK];
            Arrays.fill(bad, ExpertShard.SKIP);
            bad[0] = notMine;
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s0.compute(1, x, 1, bad, w, topK, false, got));
            assertTrue(e.getMessage().contains("expert " + notMine), e.getMessage());
        }
    }
}
