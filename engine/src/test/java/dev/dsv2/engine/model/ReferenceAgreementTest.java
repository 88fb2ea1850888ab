package dev.dsv2.engine.model;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.generate.GenerationResult;
import dev.dsv2.engine.generate.Generator;
import dev.dsv2.engine.generate.TokenListener;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.reference.CheckpointWriter;
import dev.dsv2.engine.reference.NaiveDeepseekV2;
import dev.dsv2.engine.reference.NaiveGreedy;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.testsupport.TestCheckpoints;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine (float32, cache + absorbed decode, Vector API kernels) against the independent float64 oracle written
 * from the published {@code modeling_deepseek.py} (full recompute, no cache, no absorption, its own safetensors
 * reader): greedy ids identical and top-5 logprobs within 1e-3, on checkpoints of every supported variant — the
 * project's own presets (V2-Lite and V2 structure) and checkpoints written by the oracle's own writer with other
 * options (q-LoRA or not, greedy or group-limited routing, norm_topk_prob, mscale != mscale_all_dim, plain rope,
 * moe_layer_freq 2, tied embeddings, no shared experts, several shards).
 */
class ReferenceAgreementTest {
    private static final int STEPS = 10;
    private static final int TOP = 5;
    private static VectorBackend backend;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void setUp() {
        backend = new VectorBackend(2);
    }

    @AfterAll
    static void tearDown() {
        backend.close();
    }

    static Stream<Arguments> checkpoints() {
        return Stream.of(
                Arguments.of("preset tiny", (Consumer<Map<String, Object>>) null, "tiny"),
                Arguments.of("preset tiny-v2", null, "tiny-v2"),
                Arguments.of("oracle V2 shape (q-LoRA, group-limited, scaling 2.5)", variant(c -> { }), null),
                Arguments.of("greedy + norm_topk_prob, no q-LoRA", variant(c -> {
                    c.put("q_lora_rank", null);
                    c.put("topk_method", "greedy");
                    c.put("norm_topk_prob", true);
                }), null),
                Arguments.of("mscale != mscale_all_dim", variant(c -> c.put("rope_scaling", Map.of("type", "yarn",
                        "factor", 16, "original_max_position_embeddings", 32, "beta_fast", 32, "beta_slow", 1,
                        "mscale", 1.0, "mscale_all_dim", 0.5))), null),
                Arguments.of("plain rope, moe_layer_freq 2, no shared experts, tied embeddings", variant(c -> {
                    c.put("rope_scaling", null);
                    c.put("moe_layer_freq", 2);
                    c.put("first_k_dense_replace", 0);
                    c.put("n_shared_experts", null);
                    c.put("tie_word_embeddings", true);
                }), null));
    }

    private static Consumer<Map<String, Object>> variant(Consumer<Map<String, Object>> edit) {
        return edit;
    }

    private static Path checkpoint(String name, Consumer<Map<String, Object>> edit, String preset) {
        if (preset != null) {
            return TestCheckpoints.preset(preset, 3);
        }
        Map<String, Object> config = new HashMap<>(CheckpointWriter.smallV2Config());
        edit.accept(config);
        Path dir = tmp.resolve(name.replaceAll("[^a-zA-Z0-9]+", "-"));
        return CheckpointWriter.writeRandom(dir, config, 11, 3);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("checkpoints")
    void greedyIdsAndTopLogprobsMatchTheFloat64Reference(String name, Consumer<Map<String, Object>> edit,
                                                         String preset) {
        Path dir = checkpoint(name, edit, preset);
        try (DeepseekV2Model model = DeepseekV2Model.load(dir, backend, null)) {
            int vocab = model.config().vocabSize();
            int[] prompt = {1, vocab / 3, 7, vocab - 1, 42 % vocab, 5};
            SamplingParams params = SamplingParams.greedy(STEPS).toBuilder().logprobs(TOP).ignoreEos(true).build();
            GenerationResult got = new Generator(model, LatentKvCache.forTokens(model.config(), 64))
                    .generate(prompt, params, null, TokenListener.NONE);

            List<NaiveGreedy.Step> want = NaiveGreedy.greedy(new NaiveDeepseekV2(dir), prompt, STEPS);
            int[] wantIds = want.stream().mapToInt(NaiveGreedy.Step::token).toArray();
            assertArrayEquals(wantIds, got.outputIds(), name + ": greedy ids");
            for (int i = 0; i < STEPS; i++) {
                double[] ref = want.get(i).logprobs();
                TopLogprobs top = got.logprobs().get(i);
                assertEquals(TOP, top.ids().length);
                int[] refTop = topIds(ref, TOP);
                for (int k = 0; k < TOP; k++) {
                    int id = top.ids()[k];
                    assertEquals(ref[id], top.logprobs()[k], 1e-3, name + " step " + i + " rank " + k + " id " + id);
                    boolean nearTie = Math.abs(ref[refTop[k]] - ref[id]) < 1e-4;
                    assertTrue(id == refTop[k] || nearTie, name + " step " + i + " rank " + k + ": engine id " + id
                            + ", reference id " + refTop[k] + " (" + Arrays.toString(refTop) + ")");
                }
            }
        }
    }

    private static int[] topIds(double[] v, int k) {
        Integer[] idx = new Integer[v.length];
        for (int i = 0; i < v.length; i++) {
            idx[i] = i;
        }
        Arrays.sort(idx, (a, b) -> v[a] != v[b] ? Double.compare(v[b], v[a]) : Integer.compare(a, b));
        int[] out = new int[k];
        for (int i = 0; i < k; i++) {
            out[i] = idx[i];
        }
        return out;
    }
}
