package dev.dsv2.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.engine.checkpoint.CheckpointLayout.TensorSpec;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.safetensors.CheckpointException;
import dev.dsv2.engine.safetensors.SafetensorsWriter;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * Writes a random DeepSeek-V2 checkpoint in the exact HF layout: {@code config.json},
 * {@code generation_config.json}, every tensor of {@link CheckpointLayout#expectedTensors} as BF16 in
 * {@code model-0000i-of-0000N.safetensors} shards of about 2 GiB, and {@code model.safetensors.index.json}.
 *
 * <p>Distributions, chosen so that a random model has decisive, non-degenerate logits and routing:
 * <ul>
 *   <li>{@code model.embed_tokens.weight}: N(0, 1);</li>
 *   <li>every 2-D projection {@code [out, in]}, including the MoE router {@code mlp.gate.weight}
 *       {@code [n_routed, hidden]} and {@code lm_head.weight} {@code [vocab, hidden]}: N(0, 1/in), i.e. std
 *       {@code 1/sqrt(in)}, so each output has unit variance for a unit-variance input;</li>
 *   <li>every norm weight (1-D): 1 + N(0, 0.1²).</li>
 * </ul>
 *
 * <p>Determinism: each tensor is cut into chunks of {@value #CHUNK_ELEMENTS} elements and chunk {@code k} of
 * tensor {@code name} is drawn from its own {@link SplittableRandom} seeded by a hash of (seed, name, k). The bytes
 * therefore depend only on the seed and the tensor's name and shape, not on the order or thread that generates
 * them: the same seed gives byte-identical files. Normals come from {@link SplittableRandom#nextGaussian()} (the
 * JDK's McFarland ziggurat), rounded to bf16 to nearest-even. Chunks are generated in parallel (the common
 * fork-join pool) straight into the mapped output file.
 */
public final class RandomCheckpointWriter {
    /** Shard size limit: about 2 GiB of tensor data per file. */
    public static final long MAX_SHARD_BYTES = 2L << 30;
    public static final int CHUNK_ELEMENTS = 1 << 20;
    public static final String GENERATION_CONFIG = "generation_config.json";
    public static final String TOKENIZER_JSON = "tokenizer.json";
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
    /** The DeepSeek special tokens looked up when tokenizer_config.json does not name bos/eos. */
    public static final String DEFAULT_BOS = "<｜begin▁of▁sentence｜>";
    public static final String DEFAULT_EOS = "<｜end▁of▁sentence｜>";

    private static final ObjectMapper JSON = new ObjectMapper();

    private RandomCheckpointWriter() {
    }

    /** A normal distribution N(mean, std²) for one tensor's elements. */
    public record Init(double mean, double std) {
    }

    /** Facts of a tokenizer that a model config must agree with. */
    public record TokenizerInfo(int vocabSize, int bosId, int eosId) {
    }

    /** The distribution of a tensor's elements (see the class doc). */
    public static Init initFor(TensorSpec spec) {
        if (spec.rank() == 1) {
            return new Init(1.0, 0.1);
        }
        if (spec.name().equals(CheckpointLayout.EMBED_TOKENS)) {
            return new Init(0.0, 1.0);
        }
        if (spec.rank() == 2) {
            return new Init(0.0, 1.0 / Math.sqrt(spec.shape()[1]));
        }
        throw new IllegalArgumentException("no initialisation for tensor " + spec);
    }

    /**
     * Writes config.json, generation_config.json and all tensors for {@code c} into {@code outDir} (created if
     * needed). Earlier shards in {@code outDir} are replaced. {@code progress} gets one line per phase and shard.
     */
    public static void write(ModelConfig c, Path outDir, long seed, Consumer<String> progress) {
        c.validate();
        long start = System.nanoTime();
        List<TensorSpec> specs = CheckpointLayout.expectedTensors(c);
        long params = CheckpointLayout.parameterCount(specs);
        progress.accept(String.format("writing a random checkpoint to %s: %d layers, %,d parameters (%s of bf16), seed %d",
                outDir, c.numHiddenLayers(), params, humanBytes(params * 2), seed));
        try {
            Files.createDirectories(outDir);
            Files.writeString(outDir.resolve(ModelConfig.FILE_NAME), c.toJsonString() + "\n", StandardCharsets.UTF_8);
            Files.writeString(outDir.resolve(GENERATION_CONFIG), generationConfig(c), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new CheckpointException(outDir + ": cannot write config files: " + e, e);
        }
        progress.accept("wrote " + ModelConfig.FILE_NAME + " and " + GENERATION_CONFIG);
        List<SafetensorsWriter.Entry> entries = new ArrayList<>(specs.size());
        for (TensorSpec spec : specs) {
            Init init = initFor(spec);
            long tensorSeed = tensorSeed(seed, spec.name());
            long count = spec.elementCount();
            entries.add(new SafetensorsWriter.Entry(spec.name(), DType.BF16, spec.shape(),
                    segment -> fillNormalBf16(segment, count, tensorSeed, init)));
        }
        SafetensorsWriter.writeSharded(outDir, entries, MAX_SHARD_BYTES, progress);
        progress.accept(String.format("done: %d tensors in %.1f s", specs.size(), (System.nanoTime() - start) / 1e9));
    }

    /** {@code generation_config.json} as the DeepSeek-V2 repos ship it, with this config's bos/eos. */
    static String generationConfig(ModelConfig c) {
        return "{\n"
                + "  \"bos_token_id\": " + c.bosTokenId() + ",\n"
                + "  \"do_sample\": true,\n"
                + "  \"eos_token_id\": " + c.eosTokenId() + ",\n"
                + "  \"temperature\": 0.3,\n"
                + "  \"top_p\": 0.95\n"
                + "}\n";
    }

    /** The seed of tensor {@code name} under checkpoint seed {@code seed}. */
    public static long tensorSeed(long seed, String name) {
        long h = 0xcbf29ce484222325L; // FNV-1a over the UTF-8 bytes of the name
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return mix64(seed ^ mix64(h));
    }

    /** Fills {@code count} bf16 elements of {@code segment} with N(init.mean, init.std²), chunks in parallel. */
    static void fillNormalBf16(MemorySegment segment, long count, long tensorSeed, Init init) {
        long chunks = (count + CHUNK_ELEMENTS - 1) / CHUNK_ELEMENTS;
        if (chunks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(count + " elements are too many chunks");
        }
        IntStream range = IntStream.range(0, (int) chunks);
        (chunks > 1 ? range.parallel() : range).forEach(k -> {
            long first = (long) k * CHUNK_ELEMENTS;
            int n = (int) Math.min(CHUNK_ELEMENTS, count - first);
            short[] buf = new short[n];
            SplittableRandom rnd = new SplittableRandom(mix64(tensorSeed + (k + 1) * 0x9e3779b97f4a7c15L));
            double mean = init.mean();
            double std = init.std();
            for (int i = 0; i < n; i++) {
                buf[i] = Bf16.fromFloat((float) (mean + std * rnd.nextGaussian()));
            }
            MemorySegment.copy(buf, 0, segment, TensorView.LE_SHORT, first * 2, n);
        });
    }

    /** The splitmix64 finaliser. */
    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** {@code tokenizer.json} of a tokenizer directory, or the file itself. */
    public static Path tokenizerJson(Path tokenizerFileOrDir) {
        return Files.isDirectory(tokenizerFileOrDir) ? tokenizerFileOrDir.resolve(TOKENIZER_JSON) : tokenizerFileOrDir;
    }

    /**
     * Copies the tokenizer into {@code outDir} as {@code tokenizer.json}, and {@code tokenizer_config.json} when it
     * exists beside the tokenizer file.
     */
    public static void copyTokenizer(Path tokenizerFileOrDir, Path outDir) {
        Path json = tokenizerJson(tokenizerFileOrDir);
        if (!Files.isRegularFile(json)) {
            throw new CheckpointException(json + ": no such tokenizer file (give a tokenizer.json or a directory "
                    + "holding one)");
        }
        Path config = siblingConfig(json);
        try {
            Files.createDirectories(outDir);
            Files.copy(json, outDir.resolve(TOKENIZER_JSON), StandardCopyOption.REPLACE_EXISTING);
            if (Files.isRegularFile(config)) {
                Files.copy(config, outDir.resolve(TOKENIZER_CONFIG), StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new CheckpointException("cannot copy tokenizer " + json + " to " + outDir + ": " + e, e);
        }
    }

    /**
     * The vocabulary size ({@code 1 + } the largest id of {@code model.vocab} and {@code added_tokens}) and the
     * bos/eos ids: the tokens {@code bos_token}/{@code eos_token} of tokenizer_config.json (a string or
     * {@code {"content": ...}}), else {@value #DEFAULT_BOS} / {@value #DEFAULT_EOS}, looked up in the added tokens
     * and the vocabulary.
     */
    public static TokenizerInfo readTokenizerInfo(Path tokenizerFileOrDir) {
        Path json = tokenizerJson(tokenizerFileOrDir);
        JsonNode tok = readJson(json);
        JsonNode model = tok.path("model");
        JsonNode vocab = model.path("vocab");
        Map<String, Integer> ids = new HashMap<>();
        int maxId = -1;
        if (vocab.isObject()) {
            for (Map.Entry<String, JsonNode> e : vocab.properties()) {
                int id = e.getValue().asInt(-1);
                ids.put(e.getKey(), id);
                maxId = Math.max(maxId, id);
            }
        } else if (vocab.isArray()) {
            // Unigram: [[piece, score], ...], the id is the position.
            for (int i = 0; i < vocab.size(); i++) {
                ids.put(vocab.get(i).path(0).asText(), i);
            }
            maxId = vocab.size() - 1;
        } else {
            throw new CheckpointException(json + ": model.vocab is " + (vocab.isMissingNode() ? "missing" : vocab.getNodeType())
                    + ", expected an object of token ids (BPE) or an array of pieces (Unigram)");
        }
        for (JsonNode added : tok.path("added_tokens")) {
            int id = added.path("id").asInt(-1);
            ids.put(added.path("content").asText(), id);
            maxId = Math.max(maxId, id);
        }
        Path configFile = siblingConfig(json);
        JsonNode config = Files.isRegularFile(configFile) ? readJson(configFile) : null;
        int bos = specialId(json, configFile, config, "bos_token", DEFAULT_BOS, ids);
        int eos = specialId(json, configFile, config, "eos_token", DEFAULT_EOS, ids);
        return new TokenizerInfo(maxId + 1, bos, eos);
    }

    private static int specialId(Path json, Path configFile, JsonNode config, String key, String fallback,
                                 Map<String, Integer> ids) {
        String token = fallback;
        String source = "the default " + key;
        if (config != null) {
            JsonNode v = config.get(key);
            if (v != null && v.isTextual()) {
                token = v.textValue();
                source = configFile + " " + key;
            } else if (v != null && v.isObject() && v.path("content").isTextual()) {
                token = v.path("content").textValue();
                source = configFile + " " + key;
            }
        }
        Integer id = ids.get(token);
        if (id == null || id < 0) {
            throw new CheckpointException(json + ": " + source + " \"" + token
                    + "\" is neither an added token nor in model.vocab");
        }
        return id;
    }

    private static Path siblingConfig(Path tokenizerJson) {
        Path parent = tokenizerJson.toAbsolutePath().getParent();
        return parent.resolve(TOKENIZER_CONFIG);
    }

    private static JsonNode readJson(Path file) {
        try {
            JsonNode n = JSON.readTree(Files.readAllBytes(file));
            if (n == null || !n.isObject()) {
                throw new CheckpointException(file + ": expected a JSON object");
            }
            return n;
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file + ": no such file");
        } catch (IOException e) {
            throw new CheckpointException(file + ": not valid JSON ("
                    + (e.getMessage() == null ? e : e.getMessage().lines().findFirst().orElse("")) + ")");
        }
    }

    private static String humanBytes(long bytes) {
        return bytes >= 1L << 30 ? String.format("%.2f GiB", bytes / (double) (1L << 30))
                : String.format("%.1f MiB", bytes / (double) (1L << 20));
    }
}
