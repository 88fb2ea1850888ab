package dev.dsv2.engine.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelConfigTest {
    @TempDir
    Path dir;

    private static final ModelConfig.RopeScaling V2_YARN =
            new ModelConfig.RopeScaling("yarn", 40, 4096, 32, 1, 0.707, 0.707);

    private static String liteWith(String from, String to) {
        if (!PublishedConfigs.V2_LITE.contains(from)) {
            throw new IllegalArgumentException("fixture has no " + from);
        }
        return PublishedConfigs.V2_LITE.replace(from, to);
    }

    private static String v2With(String from, String to) {
        if (!PublishedConfigs.V2.contains(from)) {
            throw new IllegalArgumentException("fixture has no " + from);
        }
        return PublishedConfigs.V2.replace(from, to);
    }

    private static String rejection(String json) {
        return assertThrows(ConfigException.class, () -> ModelConfig.parse(json, "config.json")).getMessage();
    }

    @Test
    void parsesThePublishedV2LiteConfig() {
        ModelConfig c = ModelConfig.parse(PublishedConfigs.V2_LITE, "V2-Lite");
        assertEquals("deepseek_v2", c.modelType());
        assertEquals(102400, c.vocabSize());
        assertEquals(2048, c.hiddenSize());
        assertEquals(10944, c.intermediateSize());
        assertEquals(1408, c.moeIntermediateSize());
        assertEquals(27, c.numHiddenLayers());
        assertEquals(16, c.numAttentionHeads());
        assertEquals(16, c.numKeyValueHeads());
        assertEquals(2, c.nSharedExperts());
        assertEquals(64, c.nRoutedExperts());
        assertEquals(1.0, c.routedScalingFactor());
        assertEquals(512, c.kvLoraRank());
        assertEquals(0, c.qLoraRank(), "q_lora_rank: null means a plain q_proj");
        assertFalse(c.hasQLora());
        assertEquals(64, c.qkRopeHeadDim());
        assertEquals(128, c.vHeadDim());
        assertEquals(128, c.qkNopeHeadDim());
        assertEquals("greedy", c.topkMethod());
        assertEquals(1, c.nGroup());
        assertEquals(1, c.topkGroup());
        assertEquals(6, c.numExpertsPerTok());
        assertEquals(1, c.moeLayerFreq());
        assertEquals(1, c.firstKDenseReplace());
        assertFalse(c.normTopkProb());
        assertEquals("softmax", c.scoringFunc());
        assertEquals("silu", c.hiddenAct());
        assertEquals(163840, c.maxPositionEmbeddings());
        assertEquals(1e-6, c.rmsNormEps());
        assertEquals(10000.0, c.ropeTheta());
        assertEquals(V2_YARN, c.ropeScaling());
        assertFalse(c.attentionBias());
        assertFalse(c.tieWordEmbeddings());
        assertEquals(100000, c.bosTokenId());
        assertEquals(100001, c.eosTokenId());
        assertEquals("bfloat16", c.torchDtype());
    }

    @Test
    void derivesV2LiteAttentionAndMoeFacts() {
        ModelConfig c = ModelConfig.parse(PublishedConfigs.V2_LITE, "V2-Lite");
        assertEquals(192, c.qHeadDim());
        assertEquals(576, c.latentCacheDim());
        assertEquals(2816, c.sharedIntermediateSize());
        assertFalse(c.isMoeLayer(0));
        assertTrue(c.isMoeLayer(1));
        assertTrue(c.isMoeLayer(26));
        assertEquals(32768, c.defaultContextLimit());
        double mscale = 0.1 * 0.707 * Math.log(40) + 1.0;
        assertEquals(mscale * mscale / Math.sqrt(192), c.softmaxScale(), 1e-12);
    }

    @Test
    void parsesThePublishedV2Config() {
        ModelConfig c = ModelConfig.parse(PublishedConfigs.V2, "V2");
        assertEquals(5120, c.hiddenSize());
        assertEquals(128, c.numAttentionHeads());
        assertEquals(60, c.numHiddenLayers());
        assertEquals(1536, c.qLoraRank());
        assertTrue(c.hasQLora());
        assertEquals(160, c.nRoutedExperts());
        assertEquals(2, c.nSharedExperts());
        assertEquals(8, c.nGroup());
        assertEquals(3, c.topkGroup());
        assertEquals("group_limited_greedy", c.topkMethod());
        assertEquals(16.0, c.routedScalingFactor());
        assertEquals(1536, c.moeIntermediateSize());
        assertEquals(12288, c.intermediateSize());
        assertEquals(1, c.firstKDenseReplace());
        assertEquals(102400, c.vocabSize());
        assertEquals(6, c.numExpertsPerTok());
        assertEquals(V2_YARN, c.ropeScaling());
    }

    @Test
    void nullQLoraRankMeansNoneButAMissingOneIsTheHfDefault1536() {
        assertEquals(0, ModelConfig.parse(PublishedConfigs.V2_LITE, "null").qLoraRank());
        ModelConfig missing = ModelConfig.parse(liteWith("  \"q_lora_rank\": null,\n", ""), "missing");
        assertEquals(1536, missing.qLoraRank());
        assertTrue(missing.hasQLora());
    }

    @Test
    void writtenConfigParsesBackToAnEqualRecord() {
        for (String json : new String[]{PublishedConfigs.V2_LITE, PublishedConfigs.V2}) {
            ModelConfig c = ModelConfig.parse(json, "published");
            assertEquals(c, ModelConfig.parse(c.toJsonString(), "rewritten"));
        }
    }

    @Test
    void withChangesOnlyTheNamedKeys() {
        ModelConfig lite = ModelConfig.parse(PublishedConfigs.V2_LITE, "V2-Lite");
        ModelConfig changed = lite.with(Map.of("num_hidden_layers", 2, "q_lora_rank", 1536));
        assertEquals(ModelConfig.parse(liteWith("\"num_hidden_layers\": 27", "\"num_hidden_layers\": 2")
                .replace("\"q_lora_rank\": null", "\"q_lora_rank\": 1536"), "expected"), changed);
        assertEquals(lite, changed.with(Map.of("num_hidden_layers", 27, "q_lora_rank", 0)));
    }

    @Test
    void withRejectsUnknownKeysAndUnrunnableValues() {
        ModelConfig lite = ModelConfig.parse(PublishedConfigs.V2_LITE, "V2-Lite");
        assertEquals("config.json has no key \"num_layers\"", assertThrows(IllegalArgumentException.class,
                () -> lite.with(Map.of("num_layers", 2))).getMessage());
        assertEquals("config.json with {hidden_act=gelu}: unsupported hidden_act=gelu (expected silu)",
                assertThrows(ConfigException.class, () -> lite.with(Map.of("hidden_act", "gelu"))).getMessage());
    }

    @Test
    void loadReadsConfigJsonFromADirectoryOrAFile() throws IOException {
        Files.writeString(dir.resolve("config.json"), PublishedConfigs.V2_LITE);
        ModelConfig expected = ModelConfig.parse(PublishedConfigs.V2_LITE, "x");
        assertEquals(expected, ModelConfig.load(dir));
        assertEquals(expected, ModelConfig.load(dir.resolve("config.json")));
        ConfigException e = assertThrows(ConfigException.class, () -> ModelConfig.load(dir.resolve("nothing")));
        assertTrue(e.getMessage().contains("not found"), e.getMessage());
    }

    @Test
    void rejectsSigmoidScoring() {
        assertEquals("config.json: unsupported scoring_func=sigmoid (expected softmax)",
                rejection(liteWith("\"scoring_func\": \"softmax\"", "\"scoring_func\": \"sigmoid\"")));
    }

    @Test
    void rejectsTheV3NoauxTcRouting() {
        assertEquals("config.json: unsupported topk_method=noaux_tc (expected greedy or group_limited_greedy)",
                rejection(v2With("\"topk_method\": \"group_limited_greedy\"", "\"topk_method\": \"noaux_tc\"")));
    }

    @Test
    void rejectsGeluActivation() {
        assertEquals("config.json: unsupported hidden_act=gelu (expected silu)",
                rejection(liteWith("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"")));
    }

    @Test
    void rejectsLinearRopeScaling() {
        assertEquals("config.json: unsupported rope_scaling.type=linear (expected yarn)",
                rejection(liteWith("\"type\": \"yarn\"", "\"type\": \"linear\"")));
    }

    @Test
    void rejectsRopeScalingThatIsNotAnObject() {
        String json = liteWith(PublishedConfigs.V2_LITE.substring(PublishedConfigs.V2_LITE.indexOf("\"rope_scaling\""),
                PublishedConfigs.V2_LITE.indexOf("\"rope_theta\"")), "\"rope_scaling\": \"yarn\",\n  ");
        assertEquals("config.json: field rope_scaling=\"yarn\" is not an object or null", rejection(json));
    }

    @Test
    void acceptsNullRopeScalingAsPlainRope() {
        String json = liteWith(PublishedConfigs.V2_LITE.substring(PublishedConfigs.V2_LITE.indexOf("\"rope_scaling\""),
                PublishedConfigs.V2_LITE.indexOf("\"rope_theta\"")), "\"rope_scaling\": null,\n  ");
        ModelConfig c = ModelConfig.parse(json, "plain rope");
        assertNull(c.ropeScaling());
        assertEquals(1 / Math.sqrt(192), c.softmaxScale(), 1e-12);
    }

    @Test
    void rejectsOtherModelTypes() {
        assertEquals("config.json: unsupported model_type=llama (expected deepseek_v2)",
                rejection(liteWith("\"model_type\": \"deepseek_v2\"", "\"model_type\": \"llama\"")));
    }

    @Test
    void rejectsNonNumericHiddenSize() {
        assertEquals("config.json: field hidden_size=\"2048\" is not an integer",
                rejection(liteWith("\"hidden_size\": 2048", "\"hidden_size\": \"2048\"")));
        assertEquals("config.json: field hidden_size=2048.5 is not an integer",
                rejection(liteWith("\"hidden_size\": 2048", "\"hidden_size\": 2048.5")));
    }

    @Test
    void rejectsIntegersBeyondIntRangeInsteadOfWrappingThem() {
        assertEquals("config.json: field vocab_size=10000000000 is not an integer",
                rejection(liteWith("\"vocab_size\": 102400", "\"vocab_size\": 10000000000")));
    }

    @Test
    void rejectsNGroupThatDoesNotDivideTheRoutedExperts() {
        assertEquals("config.json: unsupported n_group=7 (expected a divisor of n_routed_experts (160))",
                rejection(v2With("\"n_group\": 8", "\"n_group\": 7")));
    }

    @Test
    void rejectsTopkGroupsTooFewToHoldTheSelectedExperts() {
        // 160 experts in 80 groups of 2: keeping 2 groups leaves 4 experts, fewer than the 6 per token.
        assertTrue(rejection(v2With("\"n_group\": 8", "\"n_group\": 80").replace("\"topk_group\": 3", "\"topk_group\": 2"))
                .startsWith("config.json: unsupported topk_group=2 (expected large enough"));
    }

    @Test
    void rejectsMalformedJson() {
        assertTrue(rejection("{\"hidden_size\": ").startsWith("config.json: not valid JSON"));
        assertEquals("config.json: expected a JSON object", rejection("[1, 2]"));
    }
}
