package dev.dsv2.engine.checkpoint;

import dev.dsv2.engine.checkpoint.CheckpointLayout.TensorSpec;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.config.PublishedConfigs;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointLayoutTest {

    private static Map<String, long[]> shapes(List<TensorSpec> specs) {
        return specs.stream().collect(Collectors.toMap(TensorSpec::name, TensorSpec::shape));
    }

    private static long count(List<TensorSpec> specs, java.util.function.Predicate<String> which) {
        return specs.stream().filter(s -> which.test(s.name())).mapToLong(TensorSpec::elementCount).sum();
    }

    @Test
    void v2LiteHas15Point7BillionParametersMostlyInExperts() {
        List<TensorSpec> specs = CheckpointLayout.expectedTensors(ModelPresets.preset("lite-layers:27"));
        long total = CheckpointLayout.parameterCount(specs);
        // embed + lm_head 419,430,400; attention+norms 27 x 13,767,168; dense MLP 67,239,936;
        // 26 MoE layers x (routed 553,648,128 + gate 131,072 + shared 17,301,504); final norm 2,048.
        assertEquals(15_706_484_224L, total);
        assertEquals(15.70e9, total, 0.05e9);

        long routed = count(specs, CheckpointLayout::isRoutedExpert);
        long shared = count(specs, n -> n.contains(".shared_experts."));
        long gates = count(specs, n -> n.endsWith(".mlp.gate.weight"));
        assertEquals(26L * 64 * 3 * 1408 * 2048, routed);
        assertTrue(routed > 0.90 * total, "routed experts are more than 90% of the weights");
        assertEquals(0.945, (routed + shared) / (double) total, 0.005, "experts incl. shared ~94%");
        // "attention + embeddings + dense layer about 0.9B" (DESIGN.md): everything but experts and gates.
        assertEquals(0.86e9, total - routed - shared - gates, 0.01e9);
        // Activated per token (the embedding is a lookup, not compute): non-routed + 6 of 64 routed experts.
        long active = total - routed - 102400L * 2048 + routed * 6 / 64;
        assertEquals(2.45e9, active, 0.05e9);
    }

    @Test
    void v2LiteHasOneDenseLayerAnd26MoeLayersOf64Experts() {
        List<TensorSpec> specs = CheckpointLayout.expectedTensors(ModelPresets.preset("lite"));
        // 1 embed + 27 x 7 attention/norm tensors + 3 dense + 26 x (64 x 3 + gate + 3 shared) + final norm + lm_head
        assertEquals(1 + 27 * 7 + 3 + 26 * (64 * 3 + 1 + 3) + 2, specs.size());
        assertEquals(specs.size(), new HashSet<>(specs.stream().map(TensorSpec::name).toList()).size(), "unique names");
        Map<String, long[]> s = shapes(specs);
        assertArrayEquals(new long[]{102400, 2048}, s.get("model.embed_tokens.weight"));
        assertArrayEquals(new long[]{16 * 192, 2048}, s.get("model.layers.0.self_attn.q_proj.weight"));
        assertArrayEquals(new long[]{576, 2048}, s.get("model.layers.5.self_attn.kv_a_proj_with_mqa.weight"));
        assertArrayEquals(new long[]{512}, s.get("model.layers.5.self_attn.kv_a_layernorm.weight"));
        assertArrayEquals(new long[]{16 * 256, 512}, s.get("model.layers.5.self_attn.kv_b_proj.weight"));
        assertArrayEquals(new long[]{2048, 16 * 128}, s.get("model.layers.5.self_attn.o_proj.weight"));
        assertArrayEquals(new long[]{10944, 2048}, s.get("model.layers.0.mlp.gate_proj.weight"));
        assertArrayEquals(new long[]{2048, 10944}, s.get("model.layers.0.mlp.down_proj.weight"));
        assertFalse(s.containsKey("model.layers.0.mlp.gate.weight"), "layer 0 is dense");
        assertArrayEquals(new long[]{64, 2048}, s.get("model.layers.1.mlp.gate.weight"));
        assertArrayEquals(new long[]{1408, 2048}, s.get("model.layers.26.mlp.experts.63.up_proj.weight"));
        assertArrayEquals(new long[]{2048, 1408}, s.get("model.layers.26.mlp.experts.63.down_proj.weight"));
        assertArrayEquals(new long[]{2816, 2048}, s.get("model.layers.1.mlp.shared_experts.gate_proj.weight"));
        assertArrayEquals(new long[]{2048, 2816}, s.get("model.layers.1.mlp.shared_experts.down_proj.weight"));
        assertFalse(s.containsKey("model.layers.1.mlp.experts.64.up_proj.weight"));
        assertFalse(s.containsKey("model.layers.1.self_attn.q_a_proj.weight"), "V2-Lite has no q LoRA");
        assertArrayEquals(new long[]{2048}, s.get("model.norm.weight"));
        assertArrayEquals(new long[]{102400, 2048}, s.get("lm_head.weight"));
    }

    @Test
    void v2UsesQLoraAndHas236BillionParameters() {
        ModelConfig v2 = ModelConfig.parse(PublishedConfigs.V2, "V2 config.json");
        List<TensorSpec> specs = CheckpointLayout.expectedTensors(v2);
        Map<String, long[]> s = shapes(specs);
        assertArrayEquals(new long[]{1536, 5120}, s.get("model.layers.3.self_attn.q_a_proj.weight"));
        assertArrayEquals(new long[]{1536}, s.get("model.layers.3.self_attn.q_a_layernorm.weight"));
        assertArrayEquals(new long[]{128 * 192, 1536}, s.get("model.layers.3.self_attn.q_b_proj.weight"));
        assertFalse(s.containsKey("model.layers.3.self_attn.q_proj.weight"));
        assertArrayEquals(new long[]{160, 5120}, s.get("model.layers.59.mlp.gate.weight"));
        assertEquals(235.7e9, CheckpointLayout.parameterCount(specs), 0.5e9);
    }

    @Test
    void tensorsFollowTheReferenceStateDictOrder() {
        List<String> names = CheckpointLayout.expectedTensors(ModelPresets.preset("tiny")).stream()
                .map(TensorSpec::name).toList();
        assertEquals(List.of(
                "model.embed_tokens.weight",
                "model.layers.0.self_attn.q_proj.weight",
                "model.layers.0.self_attn.kv_a_proj_with_mqa.weight",
                "model.layers.0.self_attn.kv_a_layernorm.weight",
                "model.layers.0.self_attn.kv_b_proj.weight",
                "model.layers.0.self_attn.o_proj.weight",
                "model.layers.0.mlp.gate_proj.weight",
                "model.layers.0.mlp.up_proj.weight",
                "model.layers.0.mlp.down_proj.weight",
                "model.layers.0.input_layernorm.weight",
                "model.layers.0.post_attention_layernorm.weight",
                "model.layers.1.self_attn.q_proj.weight"), names.subList(0, 12));
        int firstExpert = names.indexOf("model.layers.1.mlp.experts.0.gate_proj.weight");
        assertEquals(List.of("model.layers.1.mlp.experts.0.gate_proj.weight",
                "model.layers.1.mlp.experts.0.up_proj.weight",
                "model.layers.1.mlp.experts.0.down_proj.weight",
                "model.layers.1.mlp.experts.1.gate_proj.weight"), names.subList(firstExpert, firstExpert + 4));
        int gate = names.indexOf("model.layers.1.mlp.gate.weight");
        assertEquals("model.layers.1.mlp.experts.15.down_proj.weight", names.get(gate - 1));
        assertEquals("model.layers.1.mlp.shared_experts.gate_proj.weight", names.get(gate + 1));
        assertEquals(List.of("model.norm.weight", "lm_head.weight"), names.subList(names.size() - 2, names.size()));
    }

    @Test
    void tiedEmbeddingsHaveNoLmHead() {
        ModelConfig tied = ModelPresets.preset("tiny").with(Map.of("tie_word_embeddings", true));
        List<String> names = CheckpointLayout.expectedTensors(tied).stream().map(TensorSpec::name).toList();
        assertFalse(names.contains("lm_head.weight"));
        assertEquals("model.norm.weight", names.getLast());
    }

    @Test
    void nameHelpersSpellTheHfPrefixes() {
        assertEquals("model.layers.7.", CheckpointLayout.layerPrefix(7));
        assertEquals("model.layers.7.self_attn.", CheckpointLayout.attentionPrefix(7));
        assertEquals("model.layers.7.mlp.", CheckpointLayout.mlpPrefix(7));
        assertEquals("model.layers.7.mlp.experts.63.", CheckpointLayout.expertPrefix(7, 63));
        assertEquals("model.layers.7.mlp.shared_experts.", CheckpointLayout.sharedExpertsPrefix(7));
        assertEquals("model.layers.7.mlp.gate.weight", CheckpointLayout.gateName(7));
        assertTrue(CheckpointLayout.isRoutedExpert("model.layers.7.mlp.experts.3.up_proj.weight"));
        assertFalse(CheckpointLayout.isRoutedExpert("model.layers.7.mlp.shared_experts.up_proj.weight"));
        assertFalse(CheckpointLayout.isRoutedExpert("model.layers.7.mlp.gate.weight"));
    }
}
