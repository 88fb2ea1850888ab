package dev.dsv2.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.generate.GenerationResult;
import dev.dsv2.engine.generate.Generator;
import dev.dsv2.engine.generate.TextStream;
import dev.dsv2.engine.generate.TokenListener;
import dev.dsv2.engine.device.DeviceChoice;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.model.WeightFormat;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.tokenizer.HfTokenizer;
import dev.dsv2.tokenizer.StreamingDetokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code ./dsv2 generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3 | --messages JSON) [sampling] [--json]}:
 * one request through the engine, streamed to stdout as text, or one JSON object with {@code --json}.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generate from a DeepSeek-V2 checkpoint (prefill + decode over the latent KV cache).")
public final class GenerateCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "HF checkpoint directory.")
    Path model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = "--prompt", paramLabel = "TEXT",
                description = "Prompt text (tokenized with the checkpoint's tokenizer; bos added as its config says).")
        String prompt;

        @Option(names = "--prompt-ids", paramLabel = "IDS", split = ",", description = "Prompt token ids, e.g. 1,5,9.")
        int[] promptIds;

        @Option(names = "--messages", paramLabel = "JSON",
                description = "Chat messages as JSON, e.g. '[{\"role\":\"user\",\"content\":\"hi\"}]'; "
                        + "rendered with the chat template (add_generation_prompt=true).")
        String messages;
    }

    @Option(names = "--max-tokens", defaultValue = "16", description = "Tokens to generate at most (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", description = "0 = greedy. Default: generation_config.json's, else 1.0.")
    Double temperature;

    @Option(names = "--top-p", description = "Nucleus sampling mass in (0, 1]. Default: generation_config.json's, else 1.0.")
    Double topP;

    @Option(names = "--top-k", defaultValue = "0", description = "Keep the K most likely tokens (0 = off).")
    int topK;

    @Option(names = "--seed", description = "Seed for reproducible sampling.")
    Long seed;

    @Option(names = "--stop", paramLabel = "S", description = "Stop string (repeatable); the output excludes it.")
    List<String> stop = new ArrayList<>();

    @Option(names = "--stop-token-ids", paramLabel = "IDS", split = ",", description = "Token ids that end generation.")
    List<Integer> stopTokenIds = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "Keep generating after the end-of-sequence token.")
    boolean ignoreEos;

    @Option(names = "--logprobs", defaultValue = "0", paramLabel = "K",
            description = "Report the top-K logprobs of every step (0..20).")
    int logprobs;

    @Option(names = "--context-limit", paramLabel = "N",
            description = "Prompt + completion tokens at most (default min(max_position_embeddings, 32768)).")
    Integer contextLimit;

    @Option(names = "--json", description = "Print one JSON object: prompt_ids, output_ids, text, finish_reason, logprobs.")
    boolean json;

    @Mixin
    DeviceOption device;

    @Mixin
    WeightsOption weights;

    @Mixin
    CpuKernelsOption cpuKernels;

    @Override
    public Integer call() throws IOException {
        DeviceChoice choice = device.select(model, weights.format);
        HfTokenizer tokenizer = Files.exists(model.resolve("tokenizer.json")) ? HfTokenizer.load(model) : null;
        int[] prompt = promptIds(tokenizer);
        Map<String, Double> genDefaults = generationDefaults(model);
        SamplingParams.Builder b = SamplingParams.builder()
                .temperature(temperature != null ? temperature : genDefaults.getOrDefault("temperature", 1.0))
                .topP(topP != null ? topP : genDefaults.getOrDefault("top_p", 1.0))
                .topK(topK)
                .maxTokens(maxTokens)
                .stop(stop)
                .stopTokenIds(new java.util.HashSet<>(stopTokenIds))
                .ignoreEos(ignoreEos)
                .logprobs(logprobs);
        if (seed != null) {
            b.seed(seed);
        }
        SamplingParams params = b.build();
        if (!stop.isEmpty() && tokenizer == null) {
            throw new ParameterException(spec.commandLine(), "--stop needs a tokenizer.json in " + model);
        }
        WeightFormat format = weights.format;
        Backend backend = cpuKernels.settings().createBackend(choice);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (DeepseekV2Model m = DeepseekV2Model.load(model, backend, format, progress())) {
            params.validate(m.config().vocabSize(), 20);
            int limit = contextLimit != null ? contextLimit : m.config().defaultContextLimit();
            int cacheTokens = Math.min(limit, prompt.length + maxTokens);
            LatentKvCache cache = LatentKvCache.forTokens(m.config(), cacheTokens, m.backend());
            try (Generator generator = new Generator(m, cache, limit, Generator.DEFAULT_PREFILL_CHUNK)) {
                TokenListener listener = json ? TokenListener.NONE : (id, delta, top) -> out.print(delta);
                GenerationResult r = generator.generate(prompt, params, textStream(tokenizer), listener);
                if (json) {
                    out.println(JSON.writeValueAsString(toJson(r)));
                } else {
                    out.println();
                }
            } finally {
                cache.close();
            }
        } finally {
            backend.close();
        }
        return 0;
    }

    private int[] promptIds(HfTokenizer tokenizer) throws IOException {
        if (input.promptIds != null) {
            if (input.promptIds.length == 0) {
                throw new ParameterException(spec.commandLine(), "--prompt-ids is empty");
            }
            return input.promptIds;
        }
        if (tokenizer == null) {
            throw new ParameterException(spec.commandLine(), (input.prompt != null ? "--prompt" : "--messages")
                    + " needs a tokenizer.json in " + model + " (or pass --prompt-ids)");
        }
        if (input.prompt != null) {
            return tokenizer.encodePrompt(input.prompt);
        }
        JsonNode node;
        try {
            node = JSON.readTree(input.messages);
        } catch (IOException e) {
            throw new ParameterException(spec.commandLine(), "--messages is not valid JSON: " + e.getMessage());
        }
        if (node == null || !node.isArray() || node.isEmpty()) {
            throw new ParameterException(spec.commandLine(),
                    "--messages must be a non-empty JSON array of {\"role\":..,\"content\":..} objects");
        }
        List<Map<String, Object>> msgs = new ArrayList<>();
        for (JsonNode m : node) {
            if (!m.isObject() || !m.path("role").isTextual()) {
                throw new ParameterException(spec.commandLine(), "--messages: every message needs a string \"role\": " + m);
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> map = JSON.convertValue(m, Map.class);
            msgs.add(map);
        }
        return tokenizer.encodeChatMaps(msgs, true);
    }

    /** The streaming detokeniser as the engine needs it; ids beyond the tokenizer's vocabulary decode to nothing. */
    static TextStream textStream(HfTokenizer tokenizer) {
        if (tokenizer == null) {
            return null;
        }
        StreamingDetokenizer d = tokenizer.newStreamingDetokenizer(true);
        return new TextStream() {
            @Override
            public String append(int tokenId) {
                return tokenId < tokenizer.vocabSize() ? d.accept(tokenId) : "";
            }

            @Override
            public String flush() {
                return d.finish();
            }
        };
    }

    /** Sampling defaults from the checkpoint's generation_config.json (as vLLM and transformers use them). */
    static Map<String, Double> generationDefaults(Path dir) {
        Path f = dir.resolve("generation_config.json");
        if (!Files.exists(f)) {
            return Map.of();
        }
        try {
            JsonNode n = JSON.readTree(f.toFile());
            Map<String, Double> d = new java.util.HashMap<>();
            if (n.path("do_sample").isBoolean() && !n.path("do_sample").asBoolean()) {
                d.put("temperature", 0.0);
            } else if (n.path("temperature").isNumber()) {
                d.put("temperature", n.path("temperature").asDouble());
            }
            if (n.path("top_p").isNumber()) {
                d.put("top_p", n.path("top_p").asDouble());
            }
            return d;
        } catch (IOException e) {
            throw new IllegalArgumentException(f + ": not valid JSON: " + e.getMessage());
        }
    }

    private static java.util.function.Consumer<String> progress() {
        return System.console() != null ? line -> System.err.println("loading: " + line) : line -> { };
    }

    static ObjectNode toJson(GenerationResult r) {
        ObjectNode o = JSON.createObjectNode();
        ArrayNode p = o.putArray("prompt_ids");
        for (int id : r.promptIds()) {
            p.add(id);
        }
        ArrayNode ids = o.putArray("output_ids");
        for (int id : r.outputIds()) {
            ids.add(id);
        }
        o.put("text", r.text());
        o.put("finish_reason", r.finishReason().openAiName());
        ArrayNode lps = o.putArray("logprobs");
        for (TopLogprobs top : r.logprobs()) {
            ArrayNode step = lps.addArray();
            for (int k = 0; k < top.ids().length; k++) {
                step.addArray().add(top.ids()[k]).add(top.logprobs()[k]);
            }
        }
        return o;
    }
}
