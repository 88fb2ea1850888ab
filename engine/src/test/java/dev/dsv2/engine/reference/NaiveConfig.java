package dev.dsv2.engine.reference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * The oracle's own reading of an HF {@code config.json} (model_type deepseek_v2), independent of the engine's
 * config class. Keys are read from the raw JSON tree; a missing key takes the default of the reference
 * {@code DeepseekV2Config.__init__} (configuration_deepseek.py), an explicit JSON {@code null} stays {@code null}
 * (Python {@code None}). So {@code q_lora_rank} missing means 1536 but {@code "q_lora_rank": null} means a plain
 * {@code q_proj}; {@code n_routed_experts} missing or null means a dense model.
 *
 * <p>Nullable components ({@code Integer}): qLoraRank, nSharedExperts, nRoutedExperts, numExpertsPerTok, nGroup,
 * topkGroup. {@code ropeScaling} is null for plain rope.
 */
public record NaiveConfig(
        int vocabSize, int hiddenSize, int intermediateSize, int moeIntermediateSize, int numHiddenLayers,
        int numAttentionHeads, Integer qLoraRank, int kvLoraRank, int qkNopeHeadDim, int qkRopeHeadDim, int vHeadDim,
        Integer nRoutedExperts, Integer nSharedExperts, Integer numExpertsPerTok, String topkMethod, Integer nGroup,
        Integer topkGroup, boolean normTopkProb, double routedScalingFactor, int firstKDenseReplace, int moeLayerFreq,
        double rmsNormEps, boolean tieWordEmbeddings, double ropeTheta, Yarn ropeScaling, boolean attentionBias) {

    /**
     * {@code rope_scaling} of type yarn, with the defaults of the {@code DeepseekV2YarnRotaryEmbedding} constructor
     * for keys the config leaves out (original_max_position_embeddings 4096, beta_fast 32, beta_slow 1, mscale 1,
     * mscale_all_dim 0).
     */
    public record Yarn(double factor, int originalMaxPositionEmbeddings, double betaFast, double betaSlow,
                       double mscale, double mscaleAllDim) {}

    public int qHeadDim() {
        return qkNopeHeadDim + qkRopeHeadDim;
    }

    /** DeepseekV2DecoderLayer.__init__: the layer gets DeepseekV2MoE rather than DeepseekV2MLP. */
    public boolean isMoeLayer(int layer) {
        return nRoutedExperts != null && layer >= firstKDenseReplace && layer % moeLayerFreq == 0;
    }

    public static NaiveConfig read(Path checkpointDir) {
        Path file = checkpointDir.resolve("config.json");
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        Keys k = new Keys(root, file);
        String hiddenAct = k.string("hidden_act", "silu");
        String scoringFunc = k.string("scoring_func", "softmax");
        if (!"silu".equals(hiddenAct)) throw k.bad("hidden_act", "\"silu\" (the only activation DeepSeek-V2 uses)");
        if (!"softmax".equals(scoringFunc)) throw k.bad("scoring_func", "\"softmax\" (DeepSeek-V2's MoEGate)");
        NaiveConfig c = new NaiveConfig(
                k.integer("vocab_size", 102400), k.integer("hidden_size", 4096),
                k.integer("intermediate_size", 11008), k.integer("moe_intermediate_size", 1407),
                k.integer("num_hidden_layers", 30), k.integer("num_attention_heads", 32),
                k.nullableInteger("q_lora_rank", 1536), k.integer("kv_lora_rank", 512),
                k.integer("qk_nope_head_dim", 128), k.integer("qk_rope_head_dim", 64), k.integer("v_head_dim", 128),
                k.nullableInteger("n_routed_experts", null), k.nullableInteger("n_shared_experts", null),
                k.nullableInteger("num_experts_per_tok", null), k.string("topk_method", "gready"),
                k.nullableInteger("n_group", null), k.nullableInteger("topk_group", null),
                k.bool("norm_topk_prob", false), k.number("routed_scaling_factor", 1.0),
                k.integer("first_k_dense_replace", 0), k.integer("moe_layer_freq", 1),
                k.number("rms_norm_eps", 1e-6), k.bool("tie_word_embeddings", false),
                k.number("rope_theta", 10000.0), yarn(root.get("rope_scaling"), k), k.bool("attention_bias", false));
        if (c.nRoutedExperts != null) {
            if (c.numExpertsPerTok == null) throw k.bad("num_experts_per_tok", "an integer when n_routed_experts is set");
            if (!c.topkMethod.equals("greedy") && !c.topkMethod.equals("group_limited_greedy")) {
                throw k.bad("topk_method", "\"greedy\" or \"group_limited_greedy\" (MoEGate.forward has no other branch;"
                        + " the DeepseekV2Config default 'gready' has none either)");
            }
            if (c.topkMethod.equals("group_limited_greedy")
                    && (c.nGroup == null || c.topkGroup == null || c.nRoutedExperts % c.nGroup != 0)) {
                throw k.bad("n_group", "an integer dividing n_routed_experts, with topk_group set, for group_limited_greedy");
            }
        }
        return c;
    }

    private static Yarn yarn(JsonNode node, Keys k) {
        if (node == null || node.isNull()) return null;
        JsonNode type = node.has("type") ? node.get("type") : node.get("rope_type");
        if (type == null || !"yarn".equals(type.asText())) {
            throw k.bad("rope_scaling", "null or {\"type\": \"yarn\", ...} (the only scaling DeepSeek-V2 ships)");
        }
        Keys y = new Keys(node, k.file);
        if (!node.hasNonNull("factor")) throw y.bad("rope_scaling.factor", "a number");
        return new Yarn(y.number("factor", 0), y.integer("original_max_position_embeddings", 4096),
                y.number("beta_fast", 32), y.number("beta_slow", 1), y.number("mscale", 1), y.number("mscale_all_dim", 0));
    }

    /** Typed access to one JSON object, with the HF default for a missing key. */
    private record Keys(JsonNode node, Path file) {
        int integer(String key, int dflt) {
            Integer v = nullableInteger(key, dflt);
            if (v == null) throw bad(key, "an integer, not null");
            return v;
        }

        Integer nullableInteger(String key, Integer dflt) {
            if (!node.has(key)) return dflt;
            JsonNode v = node.get(key);
            if (v.isNull()) return null;
            if (!v.isIntegralNumber() || !v.canConvertToInt()) throw bad(key, "an integer");
            return v.intValue();
        }

        double number(String key, double dflt) {
            if (!node.has(key)) return dflt;
            if (!node.get(key).isNumber()) throw bad(key, "a number");
            return node.get(key).doubleValue();
        }

        boolean bool(String key, boolean dflt) {
            if (!node.has(key)) return dflt;
            if (!node.get(key).isBoolean()) throw bad(key, "true or false");
            return node.get(key).booleanValue();
        }

        String string(String key, String dflt) {
            if (!node.has(key)) return dflt;
            if (!node.get(key).isTextual()) throw bad(key, "a string");
            return node.get(key).textValue();
        }

        IllegalArgumentException bad(String key, String expected) {
            String leaf = key.substring(key.lastIndexOf('.') + 1);
            String value = node.has(leaf) ? node.get(leaf).toString() : "absent";
            return new IllegalArgumentException(file + ": field '" + key + "' = " + value + ", expected " + expected);
        }
    }
}
