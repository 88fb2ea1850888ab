package dev.dsv2.router;

import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.model.ExpertPlacement;
import dev.dsv2.engine.model.ExpertShard;
import dev.dsv2.engine.model.PlacementPlan;
import dev.dsv2.engine.serve.ExpertWire;
import dev.dsv2.testsupport.TestCheckpoints;
import dev.dsv2.testsupport.TestVectors;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Shards started from a load-balanced placement (different experts per layer, a hot expert replicated on every
 * shard): the router learns it from their Info and the layer outputs equal the all-local ones, in both MoE layers.
 */
class PlannedPlacementTest {
    private static final int D = TestCheckpoints.TINY.hiddenSize();
    private static final int TOP_K = TestCheckpoints.TINY.numExpertsPerTok();

    @Test
    void theRouterFollowsAPlannedPlacementWithAReplicatedHotExpert() throws Exception {
        int layers = TestCheckpoints.TINY.numHiddenLayers();
        long[][] tokens = new long[layers][];
        Random rnd = new Random(5);
        for (int l = 0; l < layers; l++) {
            if (TestCheckpoints.TINY.isMoeLayer(l)) {
                tokens[l] = rnd.longs(16, 1, 1000).toArray();
                tokens[l][l * 3] = 1_000_000; // a different hot expert per layer
            }
        }
        PlacementPlan plan = PlacementPlan.balance(tokens, 16, 2, 1);
        assertEquals(2, java.util.Arrays.stream(plan.shards()[1]).filter(s -> java.util.Arrays.binarySearch(s, 3) >= 0)
                .count(), "layer 1's hot expert 3 is on both shards");
        Path dir = TestCheckpoints.tiny(3);
        try (VectorBackend backend = new VectorBackend(1);
             ExpertShard everything = ExpertShard.load(dir, backend, ExpertPlacement.all(16), false, null);
             ExpertShards shards = ExpertShards.start(dir, backend, plan);
             RemoteExperts experts = RemoteExperts.connect(TestCheckpoints.TINY, shards.addresses(),
                     RemoteExperts.Options.defaults().withWire(ExpertWire.F32), null)) {
            assertTrue(experts.awaitReady(Duration.ofSeconds(10)), experts.status());
            for (int layer = 1; layer <= 2; layer++) {
                int rows = 7;
                float[] x = TestVectors.gaussian(rows * D, layer);
                int[] ids = new int[rows * TOP_K];
                float[] w = new float[rows * TOP_K];
                for (int r = 0; r < rows; r++) {
                    int[] pick = rnd.ints(0, 16).filter(e -> e != 3 && e != 6).distinct().limit(TOP_K - 1).toArray();
                    ids[r * TOP_K] = layer * 3; // every row uses the layer's hot (replicated) expert
                    for (int k = 1; k < TOP_K; k++) {
                        ids[r * TOP_K + k] = pick[k - 1];
                    }
                    for (int k = 0; k < TOP_K; k++) {
                        w[r * TOP_K + k] = rnd.nextFloat() / TOP_K;
                    }
                }
                float[] want = new float[rows * D];
                everything.compute(layer, x, rows, ids, w, TOP_K, false, want);
                float[] got = new float[rows * D];
                experts.start(layer, x, rows, ids, w, TOP_K, got).await();
                for (int i = 0; i < want.length; i++) {
                    assertEquals(want[i], got[i], 1e-5f * Math.max(1f, Math.abs(want[i])), "layer " + layer
                            + ", element " + i);
                }
            }
        }
    }
}
