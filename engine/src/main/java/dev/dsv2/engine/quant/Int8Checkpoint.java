package dev.dsv2.engine.quant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.engine.config.ConfigException;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.safetensors.Checkpoint;
import dev.dsv2.engine.safetensors.CheckpointException;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * The layout of an int8-quantized checkpoint ({@code ./dsv2 quantize IN OUT}; {@code docs/int8.md}): the HF layout
 * of the bf16 checkpoint, where every weight that {@link #quantized} names is replaced by
 * <pre>
 *   NAME          I8   [rows, cols]        the codes q
 *   NAME_scale    BF16 [rows, cols / 32]   one scale per block of 32 values of a row: W[r, c] = q[r, c] · s[r, c/32]
 * </pre>
 * (e.g. {@code model.layers.0.self_attn.o_proj.weight} and {@code model.layers.0.self_attn.o_proj.weight_scale}), and
 * config.json carries {@code "quantization_config": {"quant_method": "dsv2-int8", "bits": 8, "group_size": 32,
 * "symmetric": true, "scale_dtype": "bfloat16", "scale_suffix": "_scale"}}. Everything else (embeddings, norms, the
 * MoE router gate) is kept as stored.
 */
public final class Int8Checkpoint {
    public static final String CONFIG_KEY = "quantization_config";
    public static final String QUANT_METHOD = "dsv2-int8";
    public static final String SCALE_SUFFIX = "_scale";

    /**
     * The matrices that are quantized: attention projections, dense and expert (routed and shared) MLP projections,
     * and lm_head. Not the embedding table (one row per token is read), the router gate (small, and routing
     * decisions are the most sensitive part) or any norm.
     */
    private static final Pattern QUANTIZED = Pattern.compile(
            "lm_head\\.weight|model\\.layers\\.\\d+\\.(self_attn\\.(q_proj|q_a_proj|q_b_proj|kv_a_proj_with_mqa"
                    + "|kv_b_proj|o_proj)|mlp\\.(shared_experts\\.|experts\\.\\d+\\.)?(gate_proj|up_proj|down_proj))"
                    + "\\.weight");
    private static final ObjectMapper JSON = new ObjectMapper();

    private Int8Checkpoint() {
    }

    /** Whether tensor {@code name} is one of the weights the int8 format quantizes. */
    public static boolean quantized(String name) {
        return QUANTIZED.matcher(name).matches();
    }

    /** The companion scale tensor of quantized weight {@code name}. */
    public static String scaleName(String name) {
        return name + SCALE_SUFFIX;
    }

    /** The {@code quantization_config} entry that marks a checkpoint written by {@code ./dsv2 quantize}. */
    public static ObjectNode marker() {
        ObjectNode q = JSON.createObjectNode();
        q.put("quant_method", QUANT_METHOD);
        q.put("bits", 8);
        q.put("group_size", Weight.INT8_BLOCK);
        q.put("symmetric", true);
        q.put("scale_dtype", "bfloat16");
        q.put("scale_suffix", SCALE_SUFFIX);
        return q;
    }

    /**
     * Whether the checkpoint in {@code dir} is int8-quantized: its config.json has a {@code quantization_config},
     * which must then be exactly this format's.
     *
     * @throws ConfigException naming the field and value of a quantization config this engine cannot run
     */
    public static boolean isInt8(Path dir) {
        Path file = dir.resolve(ModelConfig.FILE_NAME);
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot read: " + e.getMessage());
        }
        JsonNode q = root == null ? null : root.get(CONFIG_KEY);
        if (q == null || q.isNull()) {
            return false;
        }
        if (!q.isObject()) {
            throw new ConfigException(file + ": " + CONFIG_KEY + " is " + q + ", expected an object");
        }
        ObjectNode want = marker();
        for (var e : want.properties()) {
            JsonNode got = q.get(e.getKey());
            if (!e.getValue().equals(got)) {
                throw new ConfigException(file + ": " + CONFIG_KEY + "." + e.getKey() + " is " + got + ", expected "
                        + e.getValue() + (e.getKey().equals("quant_method") ? " (this engine runs only int8"
                        + " checkpoints written by ./dsv2 quantize)" : ""));
            }
        }
        return true;
    }

    /**
     * Quantized weight {@code name} of {@code ckpt}, checked: codes I8 {@code [rows, cols]}, cols a multiple of 32,
     * a scale tensor BF16 {@code [rows, cols / 32]} whose every value is finite and not negative.
     *
     * @throws CheckpointException naming the tensor, file and what was expected
     */
    public static Weight weight(Checkpoint ckpt, String name, long rows, long cols) {
        TensorView codes = ckpt.tensor(name, rows, cols);
        if (codes.dtype() != DType.I8) {
            throw new CheckpointException("tensor " + name + " in " + codes.file() + " is " + codes.dtype()
                    + ", expected I8 codes");
        }
        if (cols % Weight.INT8_BLOCK != 0) {
            throw new CheckpointException("tensor " + name + " in " + codes.file() + " has " + cols
                    + " columns, not a multiple of the int8 block size " + Weight.INT8_BLOCK);
        }
        String sName = scaleName(name);
        if (!ckpt.contains(sName)) {
            throw new CheckpointException("tensor " + name + " in " + codes.file() + " is int8 but its scale tensor "
                    + sName + " is missing from checkpoint " + ckpt.directory());
        }
        TensorView scales = ckpt.tensor(sName);
        long blocks = cols / Weight.INT8_BLOCK;
        if (scales.dtype() != DType.BF16 || scales.rank() != 2 || scales.dim(0) != rows || scales.dim(1) != blocks) {
            throw new CheckpointException("scale tensor " + sName + " in " + scales.file() + " is " + scales.dtype()
                    + " " + scales.shapeString() + ", expected BF16 [" + rows + ", " + blocks + "] (one scale per "
                    + Weight.INT8_BLOCK + " values of each row of " + name + " [" + rows + ", " + cols + "])");
        }
        long n = rows * blocks;
        for (long i = 0; i < n; i++) {
            float s = Bf16.toFloat(scales.data().get(TensorView.LE_SHORT, 2 * i));
            if (!(s >= 0f) || Float.isInfinite(s)) {
                throw new CheckpointException("scale tensor " + sName + " in " + scales.file() + " is corrupt: scale ["
                        + i / blocks + ", " + i % blocks + "] is " + s + " (scales are finite and >= 0)");
            }
        }
        return Weight.int8(name, Math.toIntExact(rows), Math.toIntExact(cols), codes.data(), scales.data());
    }
}
