package dev.dsv2.engine.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.safetensors.Checkpoint;
import dev.dsv2.testsupport.TestCheckpoints;
import dev.dsv2.testsupport.TestVectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * An expert shard computes through the embedded model's grouped kernel path: its output equals {@link LocalExperts}
 * (loaded separately, as the embedded model loads it) bit for bit on awkward routings — pairs marked SKIP, every
 * row on one expert, experts with no rows, the shared experts on and off, decode-sized and GEMM-sized batches.
 */
class GroupedShardComputeTest {
    private static final ModelConfig C = TestCheckpoints.TINY;
    private static final int D = C.hiddenSize();
    private static final int TOP_K = C.numExpertsPerTok();
    private static final int E = C.nRoutedExperts();
    private static final int LAYER = 2;
    private static final int[] ROW_COUNTS = {1, 3, 17, 40};

    private static VectorBackend backend;
    private static Checkpoint ckpt;
    private static LocalExperts embedded;
    private static SwiGluMlp embeddedShared;
    private static ExpertShard all;
    private static ExpertShard half;

    @BeforeAll
    static void load() {
        Path dir = TestCheckpoints.tiny(13);
        backend = new VectorBackend(2);
        ckpt = Checkpoint.open(dir);
        ModelLoader.Names names = new ModelLoader.Names(ckpt);
        embedded = new LocalExperts(backend, ModelLoader.localExperts(C, names), D);
        embeddedShared = ModelLoader.mlp(names, "model.layers." + LAYER + ".mlp.shared_experts.",
                C.sharedIntermediateSize(), D);
        all = ExpertShard.load(dir, backend, ExpertPlacement.all(E), true, null);
        half = ExpertShard.load(dir, backend, new ExpertPlacement(0, 2, E), true, null);
    }

    @AfterAll
    static void close() {
        half.close();
        all.close();
        ckpt.close();
        backend.close();
    }

    @Test
    void aShardWithEveryExpertEqualsTheEmbeddedExpertsOnRandomRoutings() {
        for (int rows : ROW_COUNTS) {
            int[] ids = randomRouting(rows, new Random(rows), E);
            assertShardEqualsEmbedded(all, rows, ids, TestVectors.gaussian(rows * TOP_K, rows + 1), "random");
        }
    }

    @Test
    void everyRowOnOneExpertAndMostExpertsIdle() {
        for (int rows : ROW_COUNTS) {
            // Each row's first pair goes to expert 5; the rest to experts 5..(5+TOP_K-1): 16 - TOP_K experts idle.
            int[] ids = new int[rows * TOP_K];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = 5 + (i % TOP_K + i / TOP_K) % TOP_K;
            }
            assertShardEqualsEmbedded(all, rows, ids, TestVectors.gaussian(rows * TOP_K, 7), "one expert per slot");
            // Degenerate: every pair of every row on expert 11 (one group of rows * TOP_K entries, GEMM-sized).
            int[] same = new int[rows * TOP_K];
            java.util.Arrays.fill(same, 11);
            assertShardEqualsEmbedded(all, rows, same, TestVectors.gaussian(rows * TOP_K, 8), "all on expert 11");
        }
    }

    @Test
    void skippedPairsAreLeftOutExactlyAsIfTheRowHadOnlyItsOwnedPairs() {
        int kept = 2;
        for (int rows : ROW_COUNTS) {
            Random rnd = new Random(100 + rows);
            // Each row: `kept` experts of shard 0 (0..7) and TOP_K - kept of shard 1, at random positions.
            int[] ids = new int[rows * TOP_K];
            float[] weights = TestVectors.gaussian(rows * TOP_K, 200 + rows);
            int[] keptIds = new int[rows * kept];
            float[] keptWeights = new float[rows * kept];
            for (int r = 0; r < rows; r++) {
                int[] mine = rnd.ints(0, E / 2).distinct().limit(kept).toArray();
                int[] theirs = rnd.ints(E / 2, E).distinct().limit(TOP_K - kept).toArray();
                int[] slots = rnd.ints(0, TOP_K).distinct().limit(kept).sorted().toArray();
                int m = 0;
                for (int k = 0; k < TOP_K; k++) {
                    int i = r * TOP_K + k;
                    if (m < kept && slots[m] == k) {
                        ids[i] = mine[m];
                        keptIds[r * kept + m] = mine[m];
                        keptWeights[r * kept + m] = weights[i];
                        m++;
                    } else {
                        ids[i] = ExpertShard.SKIP;
                        weights[i] = 1e9f; // must not matter
                    }
                }
            }
            for (boolean shared : new boolean[]{false, true}) {
                float[] got = new float[rows * D];
                float[] x = TestVectors.gaussian(rows * D, rows);
                half.compute(LAYER, x, rows, ids, weights, TOP_K, shared, got);
                float[] want = new float[rows * D];
                embedded.computeWithShared(LAYER, x, rows, keptIds, keptWeights, kept, shared ? embeddedShared : null,
                        want);
                assertArrayEquals(want, got, rows + " rows, shared " + shared);
            }
        }
    }

    @Test
    void rowsWithEveryPairSkippedGetOnlyTheSharedExpertsOrZero() {
        for (int rows : ROW_COUNTS) {
            Random rnd = new Random(300 + rows);
            int[] ids = randomRouting(rows, rnd, E / 2);
            float[] weights = TestVectors.gaussian(rows * TOP_K, 400 + rows);
            for (int r = 0; r < rows; r += 2) {
                for (int k = 0; k < TOP_K; k++) {
                    ids[r * TOP_K + k] = ExpertShard.SKIP;
                }
            }
            float[] x = TestVectors.gaussian(rows * D, 500 + rows);
            for (boolean shared : new boolean[]{false, true}) {
                float[] got = new float[rows * D];
                java.util.Arrays.fill(got, Float.NaN); // overwritten, never accumulated into
                half.compute(LAYER, x, rows, ids, weights, TOP_K, shared, got);
                // The grouping spelled out: shared experts first over every row, then each expert in id order over
                // its pairs in pair order.
                ExpertGroups g = new ExpertGroups();
                if (shared) {
                    g.addGroup(embeddedShared.gate(), embeddedShared.up(), embeddedShared.down());
                    for (int r = 0; r < rows; r++) {
                        g.addRow(r, 1f);
                    }
                }
                SwiGluMlp[][] experts = ModelLoader.localExperts(C, new ModelLoader.Names(ckpt));
                for (int e = 0; e < E / 2; e++) {
                    boolean opened = false;
                    for (int i = 0; i < ids.length; i++) {
                        if (ids[i] == e) {
                            if (!opened) {
                                SwiGluMlp m = experts[LAYER][e];
                                g.addGroup(m.gate(), m.up(), m.down());
                                opened = true;
                            }
                            g.addRow(i / TOP_K, weights[i]);
                        }
                    }
                }
                float[] want = new float[rows * D];
                backend.swiGlu(g, x, 0, want, 0);
                assertArrayEquals(want, got, rows + " rows, shared " + shared);
                if (!shared) {
                    for (int c = 0; c < D; c++) {
                        if (got[c] != 0f) {
                            throw new AssertionError("row 0 (all pairs skipped) column " + c + " is " + got[c]);
                        }
                    }
                }
            }
        }
    }

    private static void assertShardEqualsEmbedded(ExpertShard shard, int rows, int[] ids, float[] weights, String what) {
        float[] x = TestVectors.gaussian(rows * D, 31L * rows + ids[0]);
        for (boolean shared : new boolean[]{false, true}) {
            float[] got = new float[rows * D];
            shard.compute(LAYER, x, rows, ids, weights, TOP_K, shared, got);
            float[] want = new float[rows * D];
            embedded.computeWithShared(LAYER, x, rows, ids, weights, TOP_K, shared ? embeddedShared : null, want);
            assertArrayEquals(want, got, what + ", " + rows + " rows, shared " + shared);
        }
    }

    /** Per row TOP_K distinct experts of {@code [0, experts)}. */
    private static int[] randomRouting(int rows, Random rnd, int experts) {
        int[] ids = new int[rows * TOP_K];
        for (int r = 0; r < rows; r++) {
            int[] perm = rnd.ints(0, experts).distinct().limit(TOP_K).toArray();
            System.arraycopy(perm, 0, ids, r * TOP_K, TOP_K);
        }
        return ids;
    }
}
