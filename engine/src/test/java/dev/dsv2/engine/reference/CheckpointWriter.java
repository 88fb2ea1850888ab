package dev.dsv2.engine.reference;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Test helper that writes checkpoints in the HF layout by hand: {@code config.json} plus safetensors, either one
 * {@code model.safetensors} or shards with {@code model.safetensors.index.json}. Values are given as doubles and
 * encoded as BF16 (round to nearest even), F16 or F32. {@link #writeRandom} fills every tensor a config needs with
 * seeded random values, for tests that need a realistic model rather than a paper-sized one.
 */
public final class CheckpointWriter {
    private record Tensor(String dtype, int[] shape, double[] values) {}

    private static final ObjectMapper JSON = new ObjectMapper();
    private final Map<String, Object> config = new LinkedHashMap<>();
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();

    /** Sets one config.json key; a Java null writes JSON null. */
    public CheckpointWriter config(String key, Object value) {
        config.put(key, value);
        return this;
    }

    public CheckpointWriter tensor(String name, int[] shape, double... values) {
        return tensor(name, "F32", shape, values);
    }

    public CheckpointWriter tensor(String name, String dtype, int[] shape, double... values) {
        long count = 1;
        for (int d : shape) count *= d;
        if (count != values.length) {
            throw new IllegalArgumentException("tensor '" + name + "': shape implies " + count + " values, got " + values.length);
        }
        tensors.put(name, new Tensor(dtype, shape.clone(), values.clone()));
        return this;
    }

    /** Writes config.json and the tensors into {@code dir} as {@code shards} files (an index when more than one). */
    public Path write(Path dir, int shards) {
        try {
            writeConfig(dir);
            List<String> names = new ArrayList<>(tensors.keySet());
            ObjectNode weightMap = JSON.createObjectNode();
            for (int s = 0; s < shards; s++) {
                String file = shards == 1 ? "model.safetensors"
                        : String.format("model-%05d-of-%05d.safetensors", s + 1, shards);
                Map<String, Tensor> part = new LinkedHashMap<>();
                for (int i = s; i < names.size(); i += shards) {
                    part.put(names.get(i), tensors.get(names.get(i)));
                    weightMap.put(names.get(i), file);
                }
                writeSafetensors(dir.resolve(file), part);
            }
            if (shards > 1) {
                ObjectNode index = JSON.createObjectNode();
                index.putObject("metadata").put("total_size", 0);
                index.set("weight_map", weightMap);
                Files.writeString(dir.resolve("model.safetensors.index.json"), JSON.writeValueAsString(index));
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + dir, e);
        }
    }

    private void writeConfig(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config));
    }

    private static void writeSafetensors(Path file, Map<String, Tensor> part) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        long offset = 0;
        for (var e : part.entrySet()) {
            Tensor t = e.getValue();
            long bytes = (long) t.values.length * (t.dtype.equals("F32") ? 4 : 2);
            ObjectNode entry = header.putObject(e.getKey());
            entry.put("dtype", t.dtype);
            var shape = entry.putArray("shape");
            for (int d : t.shape) shape.add(d);
            entry.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] headerBytes = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int padded = (headerBytes.length + 7) / 8 * 8;
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(8 + padded + offset)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(headerBytes);
        for (int i = headerBytes.length; i < padded; i++) out.put((byte) ' ');
        for (Tensor t : part.values()) {
            for (double v : t.values) {
                switch (t.dtype) {
                    case "F32" -> out.putFloat((float) v);
                    case "F16" -> out.putShort(Float.floatToFloat16((float) v));
                    case "BF16" -> out.putShort(toBf16((float) v));
                    default -> throw new IllegalArgumentException("dtype " + t.dtype + ": expected F32, F16 or BF16");
                }
            }
        }
        Files.write(file, out.array());
    }

    /** float → bfloat16 bits, rounding to nearest even (finite values). */
    static short toBf16(float f) {
        int bits = Float.floatToIntBits(f);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /**
     * Writes into {@code dir} a checkpoint for {@code config} (HF keys) with every tensor the config implies, filled
     * with seeded uniform values: linear weights in ±1/sqrt(fan_in) (embeddings ±1), norm weights in 1 ± 0.2, all
     * stored as BF16, split over {@code shards} files.
     */
    public static Path writeRandom(Path dir, Map<String, Object> config, long seed, int shards) {
        CheckpointWriter w = new CheckpointWriter();
        config.forEach(w::config);
        try {
            w.writeConfig(dir); // first, so that NaiveConfig reads the keys with the reference defaults
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir.resolve("config.json"), e);
        }
        NaiveConfig c = NaiveConfig.read(dir);
        SplittableRandom rnd = new SplittableRandom(seed);
        int h = c.hiddenSize(), n = c.numAttentionHeads(), dq = c.qHeadDim();
        w.random(rnd, "model.embed_tokens.weight", 1.0, c.vocabSize(), h);
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String p = "model.layers." + i + ".", a = p + "self_attn.";
            w.norm(rnd, p + "input_layernorm.weight", h);
            w.norm(rnd, p + "post_attention_layernorm.weight", h);
            if (c.qLoraRank() == null) {
                w.linear(rnd, a + "q_proj.weight", n * dq, h);
            } else {
                w.linear(rnd, a + "q_a_proj.weight", c.qLoraRank(), h);
                w.norm(rnd, a + "q_a_layernorm.weight", c.qLoraRank());
                w.linear(rnd, a + "q_b_proj.weight", n * dq, c.qLoraRank());
            }
            w.linear(rnd, a + "kv_a_proj_with_mqa.weight", c.kvLoraRank() + c.qkRopeHeadDim(), h);
            w.norm(rnd, a + "kv_a_layernorm.weight", c.kvLoraRank());
            w.linear(rnd, a + "kv_b_proj.weight", n * (c.qkNopeHeadDim() + c.vHeadDim()), c.kvLoraRank());
            w.linear(rnd, a + "o_proj.weight", h, n * c.vHeadDim());
            if (c.attentionBias()) {
                if (c.qLoraRank() != null) w.random(rnd, a + "q_a_proj.bias", 0.1, c.qLoraRank());
                w.random(rnd, a + "kv_a_proj_with_mqa.bias", 0.1, c.kvLoraRank() + c.qkRopeHeadDim());
                w.random(rnd, a + "o_proj.bias", 0.1, h);
            }
            if (!c.isMoeLayer(i)) {
                w.mlp(rnd, p + "mlp.", c.intermediateSize(), h);
                continue;
            }
            w.linear(rnd, p + "mlp.gate.weight", c.nRoutedExperts(), h);
            for (int e = 0; e < c.nRoutedExperts(); e++) w.mlp(rnd, p + "mlp.experts." + e + ".", c.moeIntermediateSize(), h);
            if (c.nSharedExperts() != null) {
                w.mlp(rnd, p + "mlp.shared_experts.", c.moeIntermediateSize() * c.nSharedExperts(), h);
            }
        }
        w.norm(rnd, "model.norm.weight", h);
        if (!c.tieWordEmbeddings()) w.linear(rnd, "lm_head.weight", c.vocabSize(), h);
        return w.write(dir, shards);
    }

    /**
     * HF config keys of a small 3-layer V2-shaped model (hidden 128, vocab 256, 4 heads): q LoRA, YaRN, a dense first
     * layer, then group-limited MoE (8 experts in 4 groups, top-2, routed_scaling_factor 2.5) with 2 shared experts.
     * A fresh mutable map, for {@link #writeRandom} and for variants.
     */
    public static Map<String, Object> smallV2Config() {
        Map<String, Object> c = new HashMap<>();
        c.put("model_type", "deepseek_v2");
        c.put("vocab_size", 256);
        c.put("hidden_size", 128);
        c.put("intermediate_size", 256);
        c.put("moe_intermediate_size", 64);
        c.put("num_hidden_layers", 3);
        c.put("num_attention_heads", 4);
        c.put("q_lora_rank", 48);
        c.put("kv_lora_rank", 32);
        c.put("qk_nope_head_dim", 16);
        c.put("qk_rope_head_dim", 8);
        c.put("v_head_dim", 16);
        c.put("n_routed_experts", 8);
        c.put("n_shared_experts", 2);
        c.put("num_experts_per_tok", 2);
        c.put("topk_method", "group_limited_greedy");
        c.put("n_group", 4);
        c.put("topk_group", 2);
        c.put("norm_topk_prob", false);
        c.put("routed_scaling_factor", 2.5);
        c.put("first_k_dense_replace", 1);
        c.put("moe_layer_freq", 1);
        c.put("rms_norm_eps", 1e-6);
        c.put("rope_theta", 10000.0);
        c.put("rope_scaling", Map.of("type", "yarn", "factor", 40, "original_max_position_embeddings", 64,
                "beta_fast", 32, "beta_slow", 1, "mscale", 0.707, "mscale_all_dim", 0.707));
        c.put("tie_word_embeddings", false);
        return c;
    }

    private void mlp(SplittableRandom rnd, String prefix, int width, int h) {
        linear(rnd, prefix + "gate_proj.weight", width, h);
        linear(rnd, prefix + "up_proj.weight", width, h);
        linear(rnd, prefix + "down_proj.weight", h, width);
    }

    private void linear(SplittableRandom rnd, String name, int rows, int cols) {
        random(rnd, name, 1.0 / Math.sqrt(cols), rows, cols);
    }

    private void norm(SplittableRandom rnd, String name, int size) {
        double[] v = new double[size];
        for (int i = 0; i < size; i++) v[i] = 1 + rnd.nextDouble(-0.2, 0.2);
        tensor(name, "BF16", new int[] {size}, v);
    }

    private void random(SplittableRandom rnd, String name, double bound, int... shape) {
        int count = 1;
        for (int d : shape) count *= d;
        double[] v = new double[count];
        for (int i = 0; i < count; i++) v[i] = rnd.nextDouble(-bound, bound);
        tensor(name, "BF16", shape, v);
    }
}
