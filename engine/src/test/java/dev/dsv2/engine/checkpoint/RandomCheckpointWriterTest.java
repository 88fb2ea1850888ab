package dev.dsv2.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.engine.checkpoint.CheckpointLayout.TensorSpec;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter.Init;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter.TokenizerInfo;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.safetensors.Checkpoint;
import dev.dsv2.engine.safetensors.CheckpointException;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;
import dev.dsv2.testsupport.SharedTestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RandomCheckpointWriterTest {
    @TempDir
    Path dir;

    private static final ObjectMapper JSON = new ObjectMapper();

    private static List<String> fileNames(Path d) throws IOException {
        try (Stream<Path> s = Files.list(d)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny", "tiny-v2"})
    void everyLayoutTensorIsWrittenAsBf16WithItsShape(String preset) throws IOException {
        ModelConfig c = ModelPresets.preset(preset);
        Path out = dir.resolve(preset);
        List<String> progress = new ArrayList<>();
        RandomCheckpointWriter.write(c, out, 1, progress::add);

        assertEquals(List.of("config.json", "generation_config.json", "model-00001-of-00001.safetensors",
                "model.safetensors.index.json"), fileNames(out));
        List<TensorSpec> specs = CheckpointLayout.expectedTensors(c);
        try (Checkpoint ckpt = Checkpoint.open(out)) {
            Set<String> expectedNames = new HashSet<>();
            for (TensorSpec s : specs) {
                TensorView t = ckpt.tensor(s.name(), s.shape());
                assertEquals(DType.BF16, t.dtype(), s.name());
                expectedNames.add(s.name());
            }
            assertEquals(expectedNames, ckpt.names(), "no tensor beyond the layout");
            assertEquals(CheckpointLayout.parameterCount(specs) * 2, ckpt.totalBytes());
        }
        assertTrue(progress.getFirst().startsWith("writing a random checkpoint to " + out), progress.getFirst());
        assertTrue(progress.stream().anyMatch(l -> l.startsWith("wrote model-00001-of-00001.safetensors")), progress.toString());
        assertTrue(progress.getLast().startsWith("done: " + specs.size() + " tensors in "), progress.getLast());
    }

    @Test
    void configJsonLoadsBackToAnEqualRecord() throws IOException {
        for (String preset : List.of("tiny", "tiny-v2")) {
            ModelConfig c = ModelPresets.preset(preset);
            Path out = dir.resolve(preset);
            RandomCheckpointWriter.write(c, out, 3, line -> {
            });
            assertEquals(c, ModelConfig.load(out), preset);
        }
    }

    @Test
    void generationConfigCarriesTheSpecialIdsAndTheReleaseSampling() throws IOException {
        ModelConfig c = ModelPresets.withVocab(ModelPresets.preset("tiny"), 2000, 1500, 1501);
        RandomCheckpointWriter.write(c, dir, 3, line -> {
        });
        JsonNode g = JSON.readTree(dir.resolve("generation_config.json").toFile());
        assertEquals(1500, g.get("bos_token_id").intValue());
        assertEquals(1501, g.get("eos_token_id").intValue());
        assertTrue(g.get("do_sample").booleanValue());
        assertEquals(0.3, g.get("temperature").doubleValue());
        assertEquals(0.95, g.get("top_p").doubleValue());
        assertEquals(5, g.size());
    }

    @Test
    void sameSeedGivesByteIdenticalFilesAndAnotherSeedDifferentWeights() throws IOException {
        ModelConfig c = ModelPresets.preset("tiny-v2");
        Path a = dir.resolve("a");
        Path b = dir.resolve("b");
        Path other = dir.resolve("other");
        RandomCheckpointWriter.write(c, a, 42, line -> {
        });
        RandomCheckpointWriter.write(c, b, 42, line -> {
        });
        RandomCheckpointWriter.write(c, other, 43, line -> {
        });
        for (String f : fileNames(a)) {
            assertEquals(-1, Files.mismatch(a.resolve(f), b.resolve(f)), f + " differs between two runs with seed 42");
        }
        String shard = "model-00001-of-00001.safetensors";
        assertNotEquals(-1, Files.mismatch(a.resolve(shard), other.resolve(shard)));
        try (Checkpoint x = Checkpoint.open(a); Checkpoint y = Checkpoint.open(other)) {
            for (String name : x.names()) {
                assertNotEquals(x.tensor(name).data().mismatch(y.tensor(name).data()), -1L,
                        name + " is the same under seeds 42 and 43");
            }
        }
    }

    @Test
    void tensorBytesDependOnlyOnSeedNameAndShapeNotOnTheirNeighbours() {
        // tiny and tiny-v2 share layer 0's dense MLP shapes; q_proj differs in name, so is not comparable.
        Path tiny = dir.resolve("tiny");
        Path v2 = dir.resolve("v2");
        RandomCheckpointWriter.write(ModelPresets.preset("tiny"), tiny, 9, line -> {
        });
        RandomCheckpointWriter.write(ModelPresets.preset("tiny-v2"), v2, 9, line -> {
        });
        try (Checkpoint x = Checkpoint.open(tiny); Checkpoint y = Checkpoint.open(v2)) {
            for (String name : List.of("model.embed_tokens.weight", "model.layers.0.mlp.down_proj.weight",
                    "model.layers.2.mlp.experts.3.up_proj.weight", "model.norm.weight")) {
                assertEquals(-1L, x.tensor(name).data().mismatch(y.tensor(name).data()), name);
            }
        }
    }

    @Test
    void multiChunkTensorsAreDeterministicAndEachChunkHasItsOwnStream() {
        long count = RandomCheckpointWriter.CHUNK_ELEMENTS * 5L / 2;
        long seed = RandomCheckpointWriter.tensorSeed(5, "model.layers.1.mlp.experts.0.up_proj.weight");
        Init init = new Init(0, 1);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment one = arena.allocate(count * 2);
            MemorySegment two = arena.allocate(count * 2);
            RandomCheckpointWriter.fillNormalBf16(one, count, seed, init);
            RandomCheckpointWriter.fillNormalBf16(two, count, seed, init);
            assertEquals(-1L, one.mismatch(two));
            long chunkBytes = RandomCheckpointWriter.CHUNK_ELEMENTS * 2L;
            assertNotEquals(-1L, MemorySegment.mismatch(one, 0, chunkBytes, one, chunkBytes, 2 * chunkBytes));
            assertNotEquals(0, one.get(TensorView.LE_SHORT, count * 2 - 2), "the partial last chunk is filled");
        }
    }

    @Test
    void weightsFollowTheDocumentedDistributions() {
        ModelConfig c = ModelPresets.preset("tiny");
        RandomCheckpointWriter.write(c, dir, 11, line -> {
        });
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            assertMoments(ckpt.tensor("model.embed_tokens.weight"), 0, 1);
            assertMoments(ckpt.tensor("lm_head.weight"), 0, 1 / Math.sqrt(128));
            assertMoments(ckpt.tensor("model.layers.0.mlp.down_proj.weight"), 0, 1 / Math.sqrt(320));
            assertMoments(ckpt.tensor("model.layers.1.self_attn.kv_b_proj.weight"), 0, 1 / Math.sqrt(64));
            assertMoments(ckpt.tensor("model.layers.1.self_attn.o_proj.weight"), 0, 1 / Math.sqrt(128));
            assertMoments(ckpt.tensor("model.layers.2.mlp.gate.weight"), 0, 1 / Math.sqrt(128));
            float[] norms = new float[0];
            for (String n : ckpt.names()) {
                if (n.endsWith("norm.weight")) {
                    float[] v = ckpt.tensor(n).toFloatArray();
                    float[] all = new float[norms.length + v.length];
                    System.arraycopy(norms, 0, all, 0, norms.length);
                    System.arraycopy(v, 0, all, norms.length, v.length);
                    norms = all;
                }
            }
            assertMoments(norms, 1, 0.1, "all norm weights");
        }
    }

    private static void assertMoments(TensorView t, double mean, double std) {
        assertMoments(t.toFloatArray(), mean, std, t.name());
    }

    private static void assertMoments(float[] v, double mean, double std, String what) {
        double s = 0;
        double s2 = 0;
        for (float x : v) {
            s += x;
            s2 += (double) x * x;
        }
        double m = s / v.length;
        double sd = Math.sqrt(s2 / v.length - m * m);
        double stdErrOfMean = std / Math.sqrt(v.length);
        assertEquals(mean, m, 5 * stdErrOfMean + 1e-3 * std, what + " mean");
        assertEquals(std, sd, 0.05 * std, what + " std");
    }

    @Test
    void initialisationIsChosenByTensorRoleAndInputWidth() {
        assertEquals(new Init(0, 1), RandomCheckpointWriter.initFor(new TensorSpec("model.embed_tokens.weight",
                new long[]{10, 4})));
        assertEquals(new Init(1, 0.1), RandomCheckpointWriter.initFor(new TensorSpec("model.norm.weight",
                new long[]{4})));
        assertEquals(new Init(0, 0.5), RandomCheckpointWriter.initFor(new TensorSpec("lm_head.weight",
                new long[]{10, 4})));
        assertEquals(new Init(0, 0.125), RandomCheckpointWriter.initFor(new TensorSpec(
                "model.layers.0.mlp.down_proj.weight", new long[]{4, 64})));
    }

    @Test
    void rewritingADirectoryReplacesTheOldCheckpoint() throws IOException {
        RandomCheckpointWriter.write(ModelPresets.preset("tiny"), dir, 1, line -> {
        });
        RandomCheckpointWriter.write(ModelPresets.preset("tiny-v2"), dir, 1, line -> {
        });
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            assertTrue(ckpt.contains("model.layers.0.self_attn.q_a_proj.weight"));
        }
        assertEquals(ModelPresets.preset("tiny-v2"), ModelConfig.load(dir));
    }

    // --- tokenizer ---------------------------------------------------------------------------------------------

    @Test
    void deepSeekTokenizerInfoHas128815IdsWithBos0AndEos1() {
        Path tok = SharedTestData.deepSeekV3Tokenizer();
        assertEquals(new TokenizerInfo(128815, 0, 1), RandomCheckpointWriter.readTokenizerInfo(tok));
        assertEquals(new TokenizerInfo(128815, 0, 1),
                RandomCheckpointWriter.readTokenizerInfo(tok.resolve("tokenizer.json")));
    }

    @Test
    void copyTokenizerCopiesTokenizerJsonAndItsConfig() throws IOException {
        Path tok = SharedTestData.deepSeekV3Tokenizer();
        Path out = dir.resolve("model");
        RandomCheckpointWriter.copyTokenizer(tok.resolve("tokenizer.json"), out);
        assertEquals(-1, Files.mismatch(tok.resolve("tokenizer.json"), out.resolve("tokenizer.json")));
        assertEquals(-1, Files.mismatch(tok.resolve("tokenizer_config.json"), out.resolve("tokenizer_config.json")));
    }

    @Test
    void copyTokenizerWithoutAConfigCopiesOnlyTheTokenizer() throws IOException {
        Path src = Files.createDirectories(dir.resolve("src"));
        Files.writeString(src.resolve("my-tokenizer.json"), "{\"model\":{\"vocab\":{\"a\":0}}}");
        Path out = dir.resolve("out");
        RandomCheckpointWriter.copyTokenizer(src.resolve("my-tokenizer.json"), out);
        assertEquals(List.of("tokenizer.json"), fileNames(out));
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> RandomCheckpointWriter.copyTokenizer(dir.resolve("absent"), out));
        assertTrue(e.getMessage().contains("no such tokenizer file"), e.getMessage());
    }

    @Test
    void tokenizerInfoReadsStringSpecialTokensAndUnigramVocabularies() throws IOException {
        Path t = Files.createDirectories(dir.resolve("unigram"));
        Files.writeString(t.resolve("tokenizer.json"), """
                {"model": {"type": "Unigram", "vocab": [["<s>", 0], ["</s>", 0], ["a", -1.5], ["b", -2.0]]},
                 "added_tokens": [{"id": 9, "content": "<extra>"}]}""");
        Files.writeString(t.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}");
        assertEquals(new TokenizerInfo(10, 0, 1), RandomCheckpointWriter.readTokenizerInfo(t));
    }

    @Test
    void tokenizerInfoFallsBackToTheDeepSeekSpecialTokens() throws IOException {
        Path t = Files.createDirectories(dir.resolve("bare"));
        Files.writeString(t.resolve("tokenizer.json"), """
                {"model": {"type": "BPE", "vocab": {"x": 0, "y": 1, "z": 2}},
                 "added_tokens": [{"id": 3, "content": "<｜begin▁of▁sentence｜>"},
                                  {"id": 4, "content": "<｜end▁of▁sentence｜>"}]}""");
        assertEquals(new TokenizerInfo(5, 3, 4), RandomCheckpointWriter.readTokenizerInfo(t));
    }

    @Test
    void tokenizerInfoRejectsASpecialTokenThatIsNotInTheVocabulary() throws IOException {
        Path t = Files.createDirectories(dir.resolve("bad"));
        Files.writeString(t.resolve("tokenizer.json"), "{\"model\": {\"vocab\": {\"x\": 0}}}");
        Files.writeString(t.resolve("tokenizer_config.json"), "{\"bos_token\": {\"content\": \"<bos>\"}}");
        CheckpointException e = assertThrows(CheckpointException.class, () -> RandomCheckpointWriter.readTokenizerInfo(t));
        assertTrue(e.getMessage().contains("tokenizer_config.json bos_token \"<bos>\" is neither an added token nor in "
                + "model.vocab"), e.getMessage());
    }

    @Test
    void aModelSizedToARealTokenizerHasItsEmbeddingShape() {
        TokenizerInfo info = new TokenizerInfo(128815, 0, 1);
        ModelConfig c = ModelPresets.withVocab(ModelPresets.preset("tiny"), info.vocabSize(), info.bosId(), info.eosId());
        TensorSpec embed = CheckpointLayout.expectedTensors(c).getFirst();
        assertArrayEquals(new long[]{128815, 128}, embed.shape());
    }

    // --- speed (opt-in: -Ddsv2.slowTests=true) -------------------------------------------------------------------

    @Test
    @EnabledIfSystemProperty(named = "dsv2.slowTests", matches = "true")
    void liteLayers2IsWrittenInUnderAMinute() {
        ModelConfig c = ModelPresets.preset("lite-layers:2");
        long start = System.nanoTime();
        RandomCheckpointWriter.write(c, dir, 1, System.out::println);
        double seconds = (System.nanoTime() - start) / 1e9;
        assertTrue(seconds < 60, "took " + seconds + " s");
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            assertEquals(2, ckpt.files().size());
            for (TensorSpec s : CheckpointLayout.expectedTensors(c)) {
                ckpt.tensor(s.name(), s.shape());
            }
        }
    }
}
