package dev.dsv2.engine.checkpoint;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.config.ModelConfig.RopeScaling;

/**
 * Named model configurations for random checkpoints, tests and benchmarks.
 * <ul>
 *   <li>{@code tiny}: DeepSeek-V2-Lite's structure (no q LoRA, greedy top-6 of 16 routed experts, 2 shared,
 *       layer 0 dense, YaRN exactly as V2-Lite) at tiny sizes: vocab 1024, hidden 128, 3 layers, 4 heads,
 *       kv_lora 64, nope 32 + rope 16, v 32, intermediate 320, moe_intermediate 64; bos 0, eos 1.</li>
 *   <li>{@code tiny-v2}: DeepSeek-V2's structure (q_lora_rank 96; 32 routed experts in 8 groups, top-3 groups,
 *       {@code group_limited_greedy} top-6, routed_scaling_factor 16), otherwise like {@code tiny}.</li>
 *   <li>{@code lite-layers:N}: DeepSeek-V2-Lite's config.json values exactly, but {@code N} layers (N &ge; 1).</li>
 *   <li>{@code lite}: DeepSeek-V2-Lite with all 27 layers (15.7B parameters; for sizing).</li>
 * </ul>
 */
public final class ModelPresets {
    /** The names {@link #preset} accepts, for help texts. */
    public static final String VALID_NAMES = "tiny, tiny-v2, lite-layers:N (N >= 1), lite";

    /** DeepSeek-V2-Lite's (and V2's) {@code rope_scaling}. */
    public static final RopeScaling V2_YARN = new RopeScaling("yarn", 40, 4096, 32, 1, 0.707, 0.707);

    private static final String LITE_LAYERS = "lite-layers:";

    private ModelPresets() {
    }

    public static ModelConfig preset(String name) {
        ModelConfig c = switch (name) {
            case "tiny" -> tiny();
            case "tiny-v2" -> tinyV2();
            case "lite" -> lite(27);
            default -> {
                if (name.startsWith(LITE_LAYERS)) {
                    String n = name.substring(LITE_LAYERS.length());
                    int layers;
                    try {
                        layers = Integer.parseInt(n);
                    } catch (NumberFormatException e) {
                        throw new IllegalArgumentException("preset " + name + ": \"" + n
                                + "\" is not a layer count (valid presets: " + VALID_NAMES + ")");
                    }
                    if (layers < 1) {
                        throw new IllegalArgumentException("preset " + name + ": the layer count must be >= 1, got "
                                + layers + " (valid presets: " + VALID_NAMES + ")");
                    }
                    yield lite(layers);
                }
                throw new IllegalArgumentException("unknown preset \"" + name + "\" (valid: " + VALID_NAMES + ")");
            }
        };
        c.validate("preset " + name);
        return c;
    }

    /** {@code c} with another vocabulary (e.g. a real tokenizer's) and its bos/eos ids. */
    public static ModelConfig withVocab(ModelConfig c, int vocab, int bos, int eos) {
        if (vocab < 1 || bos < 0 || bos >= vocab || eos < 0 || eos >= vocab) {
            throw new IllegalArgumentException("vocab " + vocab + " with bos " + bos + " and eos " + eos
                    + ": bos and eos must be ids in [0, vocab)");
        }
        return new ModelConfig(c.modelType(), vocab, c.hiddenSize(), c.intermediateSize(), c.moeIntermediateSize(),
                c.numHiddenLayers(), c.numAttentionHeads(), c.numKeyValueHeads(), c.nSharedExperts(),
                c.nRoutedExperts(), c.routedScalingFactor(), c.kvLoraRank(), c.qLoraRank(), c.qkRopeHeadDim(),
                c.vHeadDim(), c.qkNopeHeadDim(), c.topkMethod(), c.nGroup(), c.topkGroup(), c.numExpertsPerTok(),
                c.moeLayerFreq(), c.firstKDenseReplace(), c.normTopkProb(), c.scoringFunc(), c.hiddenAct(),
                c.maxPositionEmbeddings(), c.rmsNormEps(), c.ropeTheta(), c.ropeScaling(), c.attentionBias(),
                c.tieWordEmbeddings(), bos, eos, c.torchDtype());
    }

    private static ModelConfig tiny() {
        return new ModelConfig("deepseek_v2",
                1024,       // vocab_size
                128,        // hidden_size
                320,        // intermediate_size
                64,         // moe_intermediate_size
                3,          // num_hidden_layers
                4,          // num_attention_heads
                4,          // num_key_value_heads
                2,          // n_shared_experts
                16,         // n_routed_experts
                1.0,        // routed_scaling_factor
                64,         // kv_lora_rank
                0,          // q_lora_rank: null
                16,         // qk_rope_head_dim
                32,         // v_head_dim
                32,         // qk_nope_head_dim
                "greedy",   // topk_method
                1,          // n_group
                1,          // topk_group
                6,          // num_experts_per_tok
                1,          // moe_layer_freq
                1,          // first_k_dense_replace
                false,      // norm_topk_prob
                "softmax",  // scoring_func
                "silu",     // hidden_act
                163840,     // max_position_embeddings
                1e-6,       // rms_norm_eps
                10000.0,    // rope_theta
                V2_YARN,
                false,      // attention_bias
                false,      // tie_word_embeddings
                0,          // bos_token_id
                1,          // eos_token_id
                "bfloat16");
    }

    private static ModelConfig tinyV2() {
        ModelConfig t = tiny();
        return new ModelConfig(t.modelType(), t.vocabSize(), t.hiddenSize(), t.intermediateSize(),
                t.moeIntermediateSize(), t.numHiddenLayers(), t.numAttentionHeads(), t.numKeyValueHeads(),
                t.nSharedExperts(),
                32,                     // n_routed_experts
                16.0,                   // routed_scaling_factor
                t.kvLoraRank(),
                96,                     // q_lora_rank
                t.qkRopeHeadDim(), t.vHeadDim(), t.qkNopeHeadDim(),
                "group_limited_greedy", // topk_method
                8,                      // n_group
                3,                      // topk_group
                6,                      // num_experts_per_tok
                t.moeLayerFreq(), t.firstKDenseReplace(),
                false,                  // norm_topk_prob
                t.scoringFunc(), t.hiddenAct(), t.maxPositionEmbeddings(), t.rmsNormEps(), t.ropeTheta(),
                t.ropeScaling(), t.attentionBias(), t.tieWordEmbeddings(), t.bosTokenId(), t.eosTokenId(),
                t.torchDtype());
    }

    /** DeepSeek-V2-Lite's config.json with {@code layers} layers. */
    private static ModelConfig lite(int layers) {
        return new ModelConfig("deepseek_v2",
                102400,     // vocab_size
                2048,       // hidden_size
                10944,      // intermediate_size
                1408,       // moe_intermediate_size
                layers,     // num_hidden_layers (27 in the release)
                16,         // num_attention_heads
                16,         // num_key_value_heads
                2,          // n_shared_experts
                64,         // n_routed_experts
                1.0,        // routed_scaling_factor
                512,        // kv_lora_rank
                0,          // q_lora_rank: null
                64,         // qk_rope_head_dim
                128,        // v_head_dim
                128,        // qk_nope_head_dim
                "greedy",   // topk_method
                1,          // n_group
                1,          // topk_group
                6,          // num_experts_per_tok
                1,          // moe_layer_freq
                1,          // first_k_dense_replace
                false,      // norm_topk_prob
                "softmax",  // scoring_func
                "silu",     // hidden_act
                163840,     // max_position_embeddings
                1e-6,       // rms_norm_eps
                10000.0,    // rope_theta
                V2_YARN,
                false,      // attention_bias
                false,      // tie_word_embeddings
                100000,     // bos_token_id
                100001,     // eos_token_id
                "bfloat16");
    }
}
