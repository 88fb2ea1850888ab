package dev.dsv2.helm;

import org.junit.jupiter.api.Test;

import static dev.dsv2.helm.V2LiteSizing.V2_LITE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's sizing table is computed from DeepSeek-V2-Lite's tensor shapes; its totals are pinned here. */
class V2LiteSizingTest {

    @Test
    void v2LiteHas15Point7BillionParameters() {
        assertEquals(15_706_484_224L, V2_LITE.totalParams());
        assertEquals(15.7, Math.round(V2_LITE.totalParams() / 1e8) / 10.0);
    }

    @Test
    void theSummandsMatchTheTensorShapes() {
        assertEquals(2L * 102400 * 2048, V2_LITE.embeddingParams());
        // q_proj 3072x2048 + kv_a 576x2048 + kv_b 4096x512 + o_proj 2048x2048 + kv_a norm 512 + 2 norms of 2048
        assertEquals(6_291_456L + 1_179_648 + 2_097_152 + 4_194_304 + 512 + 4096, V2_LITE.attentionParamsPerLayer());
        assertEquals(3L * 10944 * 2048, V2_LITE.denseMlpParams());
        assertEquals(26L * 64 * 3 * 1408 * 2048, V2_LITE.routedExpertParams());
        assertEquals(26L * 3 * 2816 * 2048, V2_LITE.sharedExpertParams());
        assertEquals(26L * 64 * 2048, V2_LITE.gateParams());
    }

    @Test
    void expertsAre94PercentOfTheWeights() {
        double experts = V2_LITE.routedExpertParams() + V2_LITE.sharedExpertParams();
        assertEquals(0.945, experts / V2_LITE.totalParams(), 0.001);
        // attention + embeddings + dense layer: "about 0.9B"
        long rest = V2_LITE.embeddingParams() + 27 * V2_LITE.attentionParamsPerLayer() + V2_LITE.denseMlpParams();
        assertEquals(0.86e9, rest, 0.01e9);
    }

    @Test
    void theRouterHoldsEverythingButTheRoutedExperts() {
        assertEquals(1_311_632_896L, V2_LITE.routerParams(true));
        assertEquals(1_311_632_896L - 449_839_104L, V2_LITE.routerParams(false));
        assertEquals(V2_LITE.totalParams(), V2_LITE.routerParams(true) + V2_LITE.shardParams(1, false));
    }

    @Test
    void shardsSplitTheRoutedExpertsEvenly() {
        long routedBytes = 2 * V2_LITE.routedExpertParams();
        for (int shards : new int[] {1, 2, 4, 8}) {
            assertEquals(routedBytes / shards, V2_LITE.bytes(V2_LITE.shardParams(shards, false)));
        }
        assertEquals(7_197_425_664L, V2_LITE.bytes(V2_LITE.shardParams(4, false)));
        assertEquals(7_197_425_664L + 899_678_208L, V2_LITE.bytes(V2_LITE.shardParams(4, true)));
        assertThrows(IllegalArgumentException.class, () -> V2_LITE.shardParams(3, false));
    }

    @Test
    void theLatentKvCacheCosts576FloatsPerLayerPerToken() {
        assertEquals(27L * 576 * 4, V2_LITE.kvCacheBytesPerToken());
        assertEquals(62_208L, V2_LITE.kvCacheBytesPerToken());
    }

    @Test
    void theTableHasOneRowPerShardCount() {
        String table = V2_LITE.table(1, 2, 4, 8);

        assertEquals(6, table.lines().count());
        assertTrue(table.contains("| 1 | 2.44 GiB | 26.81 GiB | 1.61 GiB | 27.65 GiB |"), table);
        assertTrue(table.contains("| 4 | 2.44 GiB | 6.70 GiB | 1.61 GiB | 7.54 GiB |"), table);
        assertTrue(table.contains("| 8 | 2.44 GiB | 3.35 GiB | 1.61 GiB | 4.19 GiB |"), table);
        assertTrue(V2_LITE.kvCacheTable(32768).contains("| 32,768 | 1.90 GiB |"));
    }
}
