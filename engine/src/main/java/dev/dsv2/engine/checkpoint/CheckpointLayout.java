package dev.dsv2.engine.checkpoint;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.tensor.TensorView;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The single place that names the HF tensors of a DeepSeek-V2 checkpoint and their shapes, derived from
 * config.json. Shapes are PyTorch's: an {@code nn.Linear(in, out)} weight is {@code [out, in]}.
 *
 * <pre>
 * model.embed_tokens.weight                                  [vocab, hidden]
 * per layer i, prefix model.layers.{i}.
 *   self_attn.q_proj.weight                                  [heads*(nope+rope), hidden]       (q_lora_rank null)
 *   self_attn.q_a_proj.weight                                [q_lora, hidden]                   (q_lora_rank set)
 *   self_attn.q_a_layernorm.weight                           [q_lora]
 *   self_attn.q_b_proj.weight                                [heads*(nope+rope), q_lora]
 *   self_attn.kv_a_proj_with_mqa.weight                      [kv_lora+rope, hidden]
 *   self_attn.kv_a_layernorm.weight                          [kv_lora]
 *   self_attn.kv_b_proj.weight                               [heads*(nope+v), kv_lora]
 *   self_attn.o_proj.weight                                  [hidden, heads*v]
 *   dense layer:  mlp.{gate_proj,up_proj}.weight             [inter, hidden]
 *                 mlp.down_proj.weight                       [hidden, inter]
 *   MoE layer:    mlp.experts.{e}.{gate_proj,up_proj}.weight [moe_inter, hidden]   e &lt; n_routed
 *                 mlp.experts.{e}.down_proj.weight           [hidden, moe_inter]
 *                 mlp.gate.weight                            [n_routed, hidden]
 *                 mlp.shared_experts.{gate_proj,up_proj}.weight [moe_inter*n_shared, hidden]  (n_shared &gt; 0)
 *                 mlp.shared_experts.down_proj.weight        [hidden, moe_inter*n_shared]
 *   input_layernorm.weight                                   [hidden]
 *   post_attention_layernorm.weight                          [hidden]
 * model.norm.weight                                          [hidden]
 * lm_head.weight                                             [vocab, hidden]   (absent when tie_word_embeddings)
 * </pre>
 *
 * The order is that of the reference model's {@code state_dict()} (module registration order in
 * {@code modeling_deepseek.py}: attention, MLP, then the two norms of a layer; experts before the gate).
 */
public final class CheckpointLayout {
    public static final String EMBED_TOKENS = "model.embed_tokens.weight";
    public static final String FINAL_NORM = "model.norm.weight";
    public static final String LM_HEAD = "lm_head.weight";

    private CheckpointLayout() {
    }

    /** A tensor the checkpoint must hold. */
    public record TensorSpec(String name, long[] shape) {
        public TensorSpec {
            Objects.requireNonNull(name, "name");
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        public long elementCount() {
            return TensorView.elementCount(shape);
        }

        public int rank() {
            return shape.length;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof TensorSpec t && name.equals(t.name) && Arrays.equals(shape, t.shape);
        }

        @Override
        public int hashCode() {
            return name.hashCode() * 31 + Arrays.hashCode(shape);
        }

        @Override
        public String toString() {
            return name + " " + TensorView.shapeString(shape);
        }
    }

    /** {@code model.layers.{layer}.} */
    public static String layerPrefix(int layer) {
        return "model.layers." + layer + ".";
    }

    /** {@code model.layers.{layer}.self_attn.} */
    public static String attentionPrefix(int layer) {
        return layerPrefix(layer) + "self_attn.";
    }

    /** {@code model.layers.{layer}.mlp.} (the dense MLP's projections, or the MoE's gate/experts). */
    public static String mlpPrefix(int layer) {
        return layerPrefix(layer) + "mlp.";
    }

    /** {@code model.layers.{layer}.mlp.experts.{expert}.} */
    public static String expertPrefix(int layer, int expert) {
        return mlpPrefix(layer) + "experts." + expert + ".";
    }

    /** {@code model.layers.{layer}.mlp.shared_experts.} */
    public static String sharedExpertsPrefix(int layer) {
        return mlpPrefix(layer) + "shared_experts.";
    }

    /** {@code model.layers.{layer}.mlp.gate.weight}: the router of a MoE layer. */
    public static String gateName(int layer) {
        return mlpPrefix(layer) + "gate.weight";
    }

    /** Whether {@code name} is a routed expert's weight ({@code ...mlp.experts.{e}...}). */
    public static boolean isRoutedExpert(String name) {
        return name.contains(".mlp.experts.");
    }

    /** Every tensor of a checkpoint for {@code c}, in state_dict order. */
    public static List<TensorSpec> expectedTensors(ModelConfig c) {
        long hidden = c.hiddenSize();
        long heads = c.numAttentionHeads();
        List<TensorSpec> out = new ArrayList<>();
        out.add(spec(EMBED_TOKENS, c.vocabSize(), hidden));
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String attn = attentionPrefix(i);
            if (c.hasQLora()) {
                out.add(spec(attn + "q_a_proj.weight", c.qLoraRank(), hidden));
                out.add(spec(attn + "q_a_layernorm.weight", c.qLoraRank()));
                out.add(spec(attn + "q_b_proj.weight", heads * c.qHeadDim(), c.qLoraRank()));
            } else {
                out.add(spec(attn + "q_proj.weight", heads * c.qHeadDim(), hidden));
            }
            out.add(spec(attn + "kv_a_proj_with_mqa.weight", c.kvLoraRank() + c.qkRopeHeadDim(), hidden));
            out.add(spec(attn + "kv_a_layernorm.weight", c.kvLoraRank()));
            out.add(spec(attn + "kv_b_proj.weight", heads * (c.qkNopeHeadDim() + c.vHeadDim()), c.kvLoraRank()));
            out.add(spec(attn + "o_proj.weight", hidden, heads * c.vHeadDim()));
            String mlp = mlpPrefix(i);
            if (c.isMoeLayer(i)) {
                long inter = c.moeIntermediateSize();
                for (int e = 0; e < c.nRoutedExperts(); e++) {
                    String ex = expertPrefix(i, e);
                    out.add(spec(ex + "gate_proj.weight", inter, hidden));
                    out.add(spec(ex + "up_proj.weight", inter, hidden));
                    out.add(spec(ex + "down_proj.weight", hidden, inter));
                }
                out.add(spec(gateName(i), c.nRoutedExperts(), hidden));
                if (c.nSharedExperts() > 0) {
                    long shared = c.sharedIntermediateSize();
                    String sh = sharedExpertsPrefix(i);
                    out.add(spec(sh + "gate_proj.weight", shared, hidden));
                    out.add(spec(sh + "up_proj.weight", shared, hidden));
                    out.add(spec(sh + "down_proj.weight", hidden, shared));
                }
            } else {
                long inter = c.intermediateSize();
                out.add(spec(mlp + "gate_proj.weight", inter, hidden));
                out.add(spec(mlp + "up_proj.weight", inter, hidden));
                out.add(spec(mlp + "down_proj.weight", hidden, inter));
            }
            out.add(spec(layerPrefix(i) + "input_layernorm.weight", hidden));
            out.add(spec(layerPrefix(i) + "post_attention_layernorm.weight", hidden));
        }
        out.add(spec(FINAL_NORM, hidden));
        if (!c.tieWordEmbeddings()) {
            out.add(spec(LM_HEAD, c.vocabSize(), hidden));
        }
        return List.copyOf(out);
    }

    /** Total elements of {@code specs}. */
    public static long parameterCount(List<TensorSpec> specs) {
        long n = 0;
        for (TensorSpec s : specs) {
            n += s.elementCount();
        }
        return n;
    }

    private static TensorSpec spec(String name, long... shape) {
        return new TensorSpec(name, shape);
    }
}
