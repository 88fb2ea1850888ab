package dev.dsv2.gateway.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.tokenizer.HfTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The demo checkpoint: the tiny preset sized to the shipped DeepSeek-V3 tokenizer, generated once. */
class DemoModelTest {
    @Test
    void isGeneratedOnceWithTheTokenizersVocabularyAndCleansUpAbandonedAttempts(@TempDir Path cache)
            throws Exception {
        Path dead = cache.resolve("demo-tiny-1.2.3.tmp-999999999");
        Files.createDirectories(dead);
        Files.writeString(dead.resolve("half-written"), "x");

        List<String> progress = new ArrayList<>();
        Path dir = DemoModel.ensure(cache, "1.2.3", progress::add);
        assertEquals(cache.resolve("demo-tiny-1.2.3"), dir);
        assertFalse(Files.exists(dead), "the abandoned temporary directory is removed");

        HfTokenizer tokenizer = HfTokenizer.load(dir);
        ModelConfig config = ModelConfig.load(dir);
        assertEquals(128815, tokenizer.vocabSize());
        assertEquals(tokenizer.vocabSize(), config.vocabSize(), "the model speaks the tokenizer's vocabulary");
        assertEquals(0, config.bosTokenId());
        assertEquals(1, config.eosTokenId());
        assertEquals(3, config.numHiddenLayers(), "the tiny preset");
        assertTrue(tokenizer.hasChatTemplate());
        assertTrue(Files.isRegularFile(dir.resolve("LICENSE")));
        assertTrue(progress.stream().anyMatch(line -> line.startsWith("generating the demo model")));

        FileTime written = Files.getLastModifiedTime(dir.resolve("config.json"));
        progress.clear();
        assertEquals(dir, DemoModel.ensure(cache, "1.2.3", progress::add));
        assertEquals(written, Files.getLastModifiedTime(dir.resolve("config.json")), "not generated again");
        assertTrue(progress.getFirst().startsWith("demo model"), progress.toString());
    }
}
