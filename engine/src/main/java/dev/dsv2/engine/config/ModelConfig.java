package dev.dsv2.engine.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * The HF {@code config.json} of a DeepSeek-V2 family checkpoint ({@code model_type: deepseek_v2}), as an
 * immutable record. Field names follow the HF keys; defaults are those of the reference
 * {@code DeepseekV2Config} where a key is absent. Values the engine cannot run are rejected in
 * {@link #validate()} with the field and value named, never replaced by a silent default.
 *
 * <p>Configs are made by the parser, the one place that lists every component: from a checkpoint ({@link #load}),
 * from JSON text ({@link #parse}; the {@code config.json} presets of {@code ModelPresets} too), or as a copy with
 * some keys changed ({@link #with}). Nothing builds one from 35 positional arguments.
 *
 * @param qLoraRank 0 when {@code q_lora_rank} is null (V2-Lite: a plain {@code q_proj})
 * @param nRoutedExperts 0 when {@code n_routed_experts} is null (a dense model)
 * @param ropeScaling null when {@code rope_scaling} is null (plain rope)
 */
public record ModelConfig(
        String modelType,
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int moeIntermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int numKeyValueHeads,
        int nSharedExperts,
        int nRoutedExperts,
        double routedScalingFactor,
        int kvLoraRank,
        int qLoraRank,
        int qkRopeHeadDim,
        int vHeadDim,
        int qkNopeHeadDim,
        String topkMethod,
        int nGroup,
        int topkGroup,
        int numExpertsPerTok,
        int moeLayerFreq,
        int firstKDenseReplace,
        boolean normTopkProb,
        String scoringFunc,
        String hiddenAct,
        int maxPositionEmbeddings,
        double rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        boolean attentionBias,
        boolean tieWordEmbeddings,
        int bosTokenId,
        int eosTokenId,
        String torchDtype) {

    public static final String FILE_NAME = "config.json";
    /** V2-Lite is trained for 32k tokens although its config.json says 163840; the default serving limit. */
    public static final int DEFAULT_CONTEXT_LIMIT = 32_768;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** YaRN rope scaling, {@code rope_scaling} of config.json. */
    public record RopeScaling(String type, double factor, int originalMaxPositionEmbeddings,
                              double betaFast, double betaSlow, double mscale, double mscaleAllDim) {
        ObjectNode toJson() {
            ObjectNode n = JsonNodeFactory.instance.objectNode();
            n.put("type", type);
            n.put("factor", factor);
            n.put("original_max_position_embeddings", originalMaxPositionEmbeddings);
            n.put("beta_fast", betaFast);
            n.put("beta_slow", betaSlow);
            n.put("mscale", mscale);
            n.put("mscale_all_dim", mscaleAllDim);
            return n;
        }
    }

    /** Query/key head dim: nope + rope (192 for V2 and V2-Lite). */
    public int qHeadDim() {
        return qkNopeHeadDim + qkRopeHeadDim;
    }

    public boolean hasQLora() {
        return qLoraRank > 0;
    }

    /** Values one token adds to one layer of the latent cache: the normalised latent + the rotated k_pe. */
    public int latentCacheDim() {
        return kvLoraRank + qkRopeHeadDim;
    }

    /** Whether layer {@code i} is a MoE layer, by the reference rule. */
    public boolean isMoeLayer(int layer) {
        return nRoutedExperts > 0 && layer >= firstKDenseReplace && layer % moeLayerFreq == 0;
    }

    /** Intermediate size of the shared-experts MLP (all shared experts fused into one MLP, as in the reference). */
    public int sharedIntermediateSize() {
        return moeIntermediateSize * nSharedExperts;
    }

    /** The serving context limit by default: {@code min(max_position_embeddings, 32k)}. */
    public int defaultContextLimit() {
        return Math.min(maxPositionEmbeddings, DEFAULT_CONTEXT_LIMIT);
    }

    /** The softmax scale of attention: {@code qHeadDim^-0.5}, times mscale² under YaRN (reference semantics). */
    public double softmaxScale() {
        double scale = 1.0 / Math.sqrt(qHeadDim());
        if (ropeScaling != null && ropeScaling.mscaleAllDim() != 0) {
            double m = Yarn.getMscale(ropeScaling.factor(), ropeScaling.mscaleAllDim());
            scale *= m * m;
        }
        return scale;
    }

    public static ModelConfig load(Path dir) {
        Path file = Files.isDirectory(dir) ? dir.resolve(FILE_NAME) : dir;
        try {
            return parse(Files.readString(file), file.toString());
        } catch (NoSuchFileException e) {
            throw new ConfigException(file + ": not found (a DeepSeek-V2 checkpoint directory holds config.json)");
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot read: " + e.getMessage());
        }
    }

    public static ModelConfig parse(String json, String source) {
        JsonNode n;
        try {
            n = JSON.readTree(json);
        } catch (IOException e) {
            throw new ConfigException(source + ": not valid JSON: " + e.getMessage());
        }
        return fromJson(n, source);
    }

    /**
     * This config with some {@code config.json} keys set to other values, e.g.
     * {@code lite.with(Map.of("num_hidden_layers", 2))}: the copy is written as config.json keys and read back by the
     * checkpoint parser, so it is checked like any checkpoint's config.
     *
     * @throws IllegalArgumentException for a key that config.json does not have
     * @throws ConfigException for a value the engine cannot run
     */
    public ModelConfig with(Map<String, ?> overrides) {
        ObjectNode n = toJson();
        Map<String, ?> sorted = new TreeMap<>(overrides);
        sorted.forEach((key, value) -> {
            if (!n.has(key)) {
                throw new IllegalArgumentException("config.json has no key \"" + key + "\"");
            }
            n.set(key, JSON.valueToTree(value));
        });
        return fromJson(n, FILE_NAME + " with " + sorted);
    }

    private static ModelConfig fromJson(JsonNode n, String source) {
        if (n == null || !n.isObject()) {
            throw new ConfigException(source + ": expected a JSON object");
        }
        JsonFields f = new JsonFields(n, source);
        RopeScaling rope = null;
        JsonNode rs = n.get("rope_scaling");
        if (rs != null && !rs.isNull()) {
            if (!rs.isObject()) {
                throw new ConfigException(source + ": field rope_scaling=" + rs + " is not an object or null");
            }
            JsonFields r = new JsonFields(rs, source + " rope_scaling");
            rope = new RopeScaling(
                    r.str("type", r.str("rope_type", null)),
                    r.dbl("factor", Double.NaN),
                    r.integer("original_max_position_embeddings", 4096),
                    r.dbl("beta_fast", 32),
                    r.dbl("beta_slow", 1),
                    r.dbl("mscale", 1),
                    r.dbl("mscale_all_dim", 0));
        }
        ModelConfig c = new ModelConfig(
                f.str("model_type", null),
                f.integer("vocab_size", 102400),
                f.integer("hidden_size", 4096),
                f.integer("intermediate_size", 11008),
                f.integer("moe_intermediate_size", 1407),
                f.integer("num_hidden_layers", 30),
                f.integer("num_attention_heads", 32),
                f.integer("num_key_value_heads", f.integer("num_attention_heads", 32)),
                f.nullableInt("n_shared_experts", 0),
                f.nullableInt("n_routed_experts", 0),
                f.dbl("routed_scaling_factor", 1.0),
                f.integer("kv_lora_rank", 512),
                f.nullableInt("q_lora_rank", 1536),
                f.integer("qk_rope_head_dim", 64),
                f.integer("v_head_dim", 128),
                f.integer("qk_nope_head_dim", 128),
                f.str("topk_method", null),
                f.nullableInt("n_group", 1),
                f.nullableInt("topk_group", 1),
                f.nullableInt("num_experts_per_tok", 0),
                f.integer("moe_layer_freq", 1),
                f.integer("first_k_dense_replace", 0),
                f.bool("norm_topk_prob", false),
                f.str("scoring_func", "softmax"),
                f.str("hidden_act", "silu"),
                f.integer("max_position_embeddings", 2048),
                f.dbl("rms_norm_eps", 1e-6),
                f.dbl("rope_theta", 10000.0),
                rope,
                f.bool("attention_bias", false),
                f.bool("tie_word_embeddings", false),
                f.nullableInt("bos_token_id", 100000),
                f.nullableInt("eos_token_id", 100001),
                f.str("torch_dtype", "bfloat16"));
        c.validate(source);
        return c;
    }

    /** Rejects every value the engine does not run, naming the field and the value. */
    public void validate(String source) {
        check(source, "deepseek_v2".equals(modelType), "model_type", modelType, "deepseek_v2");
        check(source, "silu".equals(hiddenAct), "hidden_act", hiddenAct, "silu");
        check(source, !attentionBias, "attention_bias", attentionBias, "false (no released DeepSeek-V2 uses biases)");
        positive(source, "vocab_size", vocabSize);
        positive(source, "hidden_size", hiddenSize);
        positive(source, "num_hidden_layers", numHiddenLayers);
        positive(source, "num_attention_heads", numAttentionHeads);
        positive(source, "kv_lora_rank", kvLoraRank);
        positive(source, "qk_nope_head_dim", qkNopeHeadDim);
        positive(source, "v_head_dim", vHeadDim);
        positive(source, "max_position_embeddings", maxPositionEmbeddings);
        check(source, qLoraRank >= 0, "q_lora_rank", qLoraRank, "null or a positive rank");
        check(source, qkRopeHeadDim > 0 && qkRopeHeadDim % 2 == 0, "qk_rope_head_dim", qkRopeHeadDim, "a positive even number");
        check(source, rmsNormEps > 0, "rms_norm_eps", rmsNormEps, "> 0");
        check(source, ropeTheta > 0, "rope_theta", ropeTheta, "> 0");
        if (firstKDenseReplace > 0 || nRoutedExperts == 0) {
            positive(source, "intermediate_size", intermediateSize);
        }
        if (nRoutedExperts > 0) {
            check(source, "softmax".equals(scoringFunc), "scoring_func", scoringFunc, "softmax");
            check(source, "greedy".equals(topkMethod) || "group_limited_greedy".equals(topkMethod),
                    "topk_method", topkMethod, "greedy or group_limited_greedy");
            positive(source, "moe_intermediate_size", moeIntermediateSize);
            check(source, numExpertsPerTok >= 1 && numExpertsPerTok <= nRoutedExperts,
                    "num_experts_per_tok", numExpertsPerTok, "between 1 and n_routed_experts (" + nRoutedExperts + ")");
            check(source, moeLayerFreq >= 1, "moe_layer_freq", moeLayerFreq, ">= 1");
            check(source, firstKDenseReplace >= 0, "first_k_dense_replace", firstKDenseReplace, ">= 0");
            check(source, nSharedExperts >= 0, "n_shared_experts", nSharedExperts, "null or >= 0");
            check(source, routedScalingFactor > 0, "routed_scaling_factor", routedScalingFactor, "> 0");
            if ("group_limited_greedy".equals(topkMethod)) {
                check(source, nGroup >= 1 && nRoutedExperts % nGroup == 0, "n_group", nGroup,
                        "a divisor of n_routed_experts (" + nRoutedExperts + ")");
                check(source, topkGroup >= 1 && topkGroup <= nGroup, "topk_group", topkGroup,
                        "between 1 and n_group (" + nGroup + ")");
                check(source, topkGroup * (nRoutedExperts / nGroup) >= numExpertsPerTok, "topk_group", topkGroup,
                        "large enough that the kept groups hold num_experts_per_tok experts");
            }
        }
        if (ropeScaling != null) {
            check(source, "yarn".equals(ropeScaling.type()), "rope_scaling.type", ropeScaling.type(), "yarn");
            check(source, ropeScaling.factor() >= 1, "rope_scaling.factor", ropeScaling.factor(), ">= 1");
            check(source, ropeScaling.originalMaxPositionEmbeddings() > 0,
                    "rope_scaling.original_max_position_embeddings", ropeScaling.originalMaxPositionEmbeddings(), "> 0");
        }
    }

    public void validate() {
        validate(FILE_NAME);
    }

    private static void positive(String source, String field, int value) {
        check(source, value > 0, field, value, "> 0");
    }

    private static void check(String source, boolean ok, String field, Object value, String expected) {
        if (!ok) {
            throw new ConfigException(source + ": unsupported " + field + "=" + value + " (expected " + expected + ")");
        }
    }

    /** The config as HF's config.json keys, for writing checkpoints. */
    public ObjectNode toJson() {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.putArray("architectures").add("DeepseekV2ForCausalLM");
        n.put("model_type", modelType);
        n.put("attention_bias", attentionBias);
        n.put("attention_dropout", 0.0);
        n.put("bos_token_id", bosTokenId);
        n.put("eos_token_id", eosTokenId);
        n.put("first_k_dense_replace", firstKDenseReplace);
        n.put("hidden_act", hiddenAct);
        n.put("hidden_size", hiddenSize);
        n.put("initializer_range", 0.02);
        n.put("intermediate_size", intermediateSize);
        n.put("kv_lora_rank", kvLoraRank);
        n.put("max_position_embeddings", maxPositionEmbeddings);
        n.put("moe_intermediate_size", moeIntermediateSize);
        n.put("moe_layer_freq", moeLayerFreq);
        n.put("n_group", nGroup);
        putNullable(n, "n_routed_experts", nRoutedExperts);
        putNullable(n, "n_shared_experts", nSharedExperts);
        n.put("norm_topk_prob", normTopkProb);
        n.put("num_attention_heads", numAttentionHeads);
        n.put("num_experts_per_tok", numExpertsPerTok);
        n.put("num_hidden_layers", numHiddenLayers);
        n.put("num_key_value_heads", numKeyValueHeads);
        putNullable(n, "q_lora_rank", qLoraRank);
        n.put("qk_nope_head_dim", qkNopeHeadDim);
        n.put("qk_rope_head_dim", qkRopeHeadDim);
        n.put("rms_norm_eps", rmsNormEps);
        if (ropeScaling == null) {
            n.putNull("rope_scaling");
        } else {
            n.set("rope_scaling", ropeScaling.toJson());
        }
        n.put("rope_theta", ropeTheta);
        n.put("routed_scaling_factor", routedScalingFactor);
        n.put("scoring_func", scoringFunc);
        n.put("tie_word_embeddings", tieWordEmbeddings);
        n.put("topk_group", topkGroup);
        n.put("topk_method", topkMethod);
        n.put("torch_dtype", torchDtype);
        n.put("v_head_dim", vHeadDim);
        n.put("vocab_size", vocabSize);
        return n;
    }

    public String toJsonString() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void putNullable(ObjectNode n, String key, int value) {
        if (value == 0) {
            n.putNull(key);
        } else {
            n.put(key, value);
        }
    }
}
