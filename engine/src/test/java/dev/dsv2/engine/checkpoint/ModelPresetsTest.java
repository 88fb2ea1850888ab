package dev.dsv2.engine.checkpoint;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.config.PublishedConfigs;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelPresetsTest {

    @Test
    void litePresetIsExactlyThePublishedV2LiteConfig() {
        assertEquals(ModelConfig.parse(PublishedConfigs.V2_LITE, "V2-Lite config.json"), ModelPresets.preset("lite"));
    }

    @Test
    void liteLayersChangesOnlyTheLayerCount() {
        ModelConfig two = ModelPresets.preset("lite-layers:2");
        ModelConfig expected = ModelConfig.parse(PublishedConfigs.V2_LITE.replace("\"num_hidden_layers\": 27",
                "\"num_hidden_layers\": 2"), "V2-Lite with 2 layers");
        assertEquals(expected, two);
        assertEquals(1, ModelPresets.preset("lite-layers:1").numHiddenLayers());
    }

    @Test
    void tinyHasV2LiteStructureAtTinySizes() {
        ModelConfig t = ModelPresets.preset("tiny");
        assertEquals(1024, t.vocabSize());
        assertEquals(128, t.hiddenSize());
        assertEquals(320, t.intermediateSize());
        assertEquals(64, t.moeIntermediateSize());
        assertEquals(3, t.numHiddenLayers());
        assertEquals(4, t.numAttentionHeads());
        assertEquals(64, t.kvLoraRank());
        assertFalse(t.hasQLora());
        assertEquals(32, t.qkNopeHeadDim());
        assertEquals(16, t.qkRopeHeadDim());
        assertEquals(32, t.vHeadDim());
        assertEquals(16, t.nRoutedExperts());
        assertEquals(6, t.numExpertsPerTok());
        assertEquals("greedy", t.topkMethod());
        assertEquals(2, t.nSharedExperts());
        assertEquals(1, t.firstKDenseReplace());
        assertFalse(t.isMoeLayer(0));
        assertTrue(t.isMoeLayer(1));
        assertTrue(t.isMoeLayer(2));
        assertFalse(t.normTopkProb());
        assertEquals(1.0, t.routedScalingFactor());
        assertEquals(ModelPresets.preset("lite").ropeScaling(), t.ropeScaling());
        assertEquals(new ModelConfig.RopeScaling("yarn", 40, 4096, 32, 1, 0.707, 0.707), t.ropeScaling());
        assertEquals(163840, t.maxPositionEmbeddings());
        assertEquals(0, t.bosTokenId());
        assertEquals(1, t.eosTokenId());
        assertEquals(ModelConfig.parse(t.toJsonString(), "round trip"), t);
    }

    @Test
    void tinyV2HasGroupLimitedRoutingAndQLora() {
        ModelConfig t = ModelPresets.preset("tiny-v2");
        assertEquals(96, t.qLoraRank());
        assertEquals(32, t.nRoutedExperts());
        assertEquals(8, t.nGroup());
        assertEquals(3, t.topkGroup());
        assertEquals(6, t.numExpertsPerTok());
        assertEquals("group_limited_greedy", t.topkMethod());
        assertEquals(16.0, t.routedScalingFactor());
        assertFalse(t.normTopkProb());
        assertEquals(3, t.numHiddenLayers());
        assertEquals(128, t.hiddenSize());
        assertEquals(1024, t.vocabSize());
    }

    @Test
    void unknownPresetListsTheValidNames() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelPresets.preset("huge"));
        assertEquals("unknown preset \"huge\" (valid: tiny, tiny-v2, lite-layers:N (N >= 1), lite)", e.getMessage());
    }

    @Test
    void liteLayersNeedsAPositiveLayerCount() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ModelPresets.preset("lite-layers:0"))
                .getMessage().contains("the layer count must be >= 1, got 0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ModelPresets.preset("lite-layers:two"))
                .getMessage().contains("\"two\" is not a layer count"));
    }

    @Test
    void withVocabReplacesVocabularyAndSpecialIdsOnly() {
        ModelConfig t = ModelPresets.preset("tiny");
        ModelConfig v = ModelPresets.withVocab(t, 128815, 0, 1);
        assertEquals(128815, v.vocabSize());
        assertEquals(ModelPresets.withVocab(v, 1024, 0, 1), t);
        ModelConfig lite = ModelPresets.withVocab(ModelPresets.preset("lite"), 102400, 5, 7);
        assertEquals(5, lite.bosTokenId());
        assertEquals(7, lite.eosTokenId());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ModelPresets.withVocab(t, 100, 0, 100))
                .getMessage().contains("bos and eos must be ids in [0, vocab)"));
    }
}
