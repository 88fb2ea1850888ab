package dev.dsv2.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.testsupport.SharedTestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading, special tokens, errors and thread-safety of {@link HfTokenizer}. */
class HfTokenizerTest {
    private final HfTokenizer tokenizer = TestData.deepSeekV3();

    @Test
    void specialTokensAndFlagsComeFromTokenizerConfigJson() {
        assertEquals(OptionalInt.of(0), tokenizer.bosId());
        assertEquals(OptionalInt.of(1), tokenizer.eosId());
        assertEquals(OptionalInt.of(1), tokenizer.padId(), "pad_token is <｜end▁of▁sentence｜>");
        assertTrue(tokenizer.addBosToken());
        assertTrue(tokenizer.hasChatTemplate());
        assertEquals(128_815, tokenizer.vocabSize(), "128000 BPE ids + added tokens up to 128814");
    }

    @Test
    void tokenTextSpellsVocabularyEntriesAndAddedTokens() {
        assertEquals("<｜begin▁of▁sentence｜>", tokenizer.tokenText(0));
        assertEquals("<｜User｜>", tokenizer.tokenText(128803));
        assertEquals("Hello", tokenizer.tokenText(19923));
        assertEquals("Ġworld", tokenizer.tokenText(2058), "the byte-level spelling, Ġ being the space");
        assertEquals(OptionalInt.of(2058), tokenizer.tokenId("Ġworld"));
        assertEquals(OptionalInt.of(128814), tokenizer.tokenId("<｜tool▁sep｜>"));
        assertEquals(OptionalInt.empty(), tokenizer.tokenId("no such token"));
        assertTrue(tokenizer.isSpecial(1));
        assertFalse(tokenizer.isSpecial(128803), "<｜User｜> is an added token, not a special one");
    }

    @Test
    void encodePromptPrependsBosBecauseAddBosTokenIsSet() {
        assertArrayEquals(new int[] {0, 19923, 14, 2058, 3}, tokenizer.encodePrompt("Hello, world!"));
        assertArrayEquals(new int[] {19923, 14, 2058, 3}, tokenizer.encode("Hello, world!"));
    }

    @Test
    void decodeRejectsIdsOutsideTheVocabularyNamingTheIdAndTheRange() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> tokenizer.decode(new int[] {5, 128_815}, false));
        assertTrue(e.getMessage().contains("token id 128815 is not in the vocabulary"), e.getMessage());
        assertTrue(e.getMessage().contains("valid ids: 0..128814"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> tokenizer.decode(new int[] {-1}, false));
    }

    @Test
    void loadsFromTheTokenizerJsonFileItselfAndReadsTheSiblingConfig() throws IOException {
        HfTokenizer fromFile = HfTokenizer.load(SharedTestData.deepSeekV3Tokenizer().resolve("tokenizer.json"));
        assertArrayEquals(tokenizer.encode("Hello, world!"), fromFile.encode("Hello, world!"));
        assertEquals(OptionalInt.of(0), fromFile.bosId());
    }

    @Test
    void aDirectoryWithoutTokenizerJsonIsNoSuchFileNamingThePath(@TempDir Path dir) {
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> HfTokenizer.load(dir));
        assertTrue(e.getMessage().contains(dir.resolve("tokenizer.json").toString()), e.getMessage());
        assertTrue(e.getMessage().contains("no tokenizer.json"), e.getMessage());
    }

    @Test
    void malformedJsonIsAFormatErrorNamingTheFile(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": ");
        TokenizerFormatException e = assertThrows(TokenizerFormatException.class, () -> HfTokenizer.load(dir));
        assertTrue(e.getMessage().startsWith(dir.resolve("tokenizer.json") + ": not valid JSON"), e.getMessage());
    }

    @Test
    void unsupportedComponentsAreRejectedNamingFieldValueAndWhatIsSupported() throws IOException {
        JsonNode base = new ObjectMapper().readTree(SharedTestData.deepSeekV3Tokenizer().resolve("tokenizer.json").toFile());
        ObjectNode nfkc = base.deepCopy();
        nfkc.set("normalizer", new ObjectMapper().readTree("{\"type\": \"NFKC\"}"));
        TokenizerFormatException e = assertThrows(TokenizerFormatException.class,
                () -> HfTokenizer.fromJson(nfkc, TokenizerConfig.NONE, "t.json"));
        assertEquals("t.json: field \"normalizer\" = {\"type\":\"NFKC\"}: expected no normalizer or an empty Sequence "
                + "(byte-level BPE tokenizers use none)", e.getMessage());

        ObjectNode badRegex = base.deepCopy();
        ((ObjectNode) badRegex.get("pre_tokenizer").get("pretokenizers").get(0).get("pattern")).put("Regex", "(unclosed");
        e = assertThrows(TokenizerFormatException.class, () -> HfTokenizer.fromJson(badRegex, TokenizerConfig.NONE, "t.json"));
        assertTrue(e.getMessage().startsWith("t.json: pre_tokenizer.pretokenizers[0].pattern.Regex: regex \"(unclosed\" "
                + "cannot be compiled"), e.getMessage());

        ObjectNode badMerge = base.deepCopy();
        ((com.fasterxml.jackson.databind.node.ArrayNode) badMerge.get("model").get("merges")).set(3, "zzzq qqqz");
        e = assertThrows(TokenizerFormatException.class, () -> HfTokenizer.fromJson(badMerge, TokenizerConfig.NONE, "t.json"));
        assertEquals("t.json: model.merges[3] = \"zzzq qqqz\": token \"zzzq\" is not in model.vocab", e.getMessage());
    }

    @Test
    void aTokenizerWithoutChatTemplateSaysSoWhenAskedForOne(@TempDir Path dir) throws IOException {
        Files.copy(SharedTestData.deepSeekV3Tokenizer().resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        HfTokenizer bare = HfTokenizer.load(dir);
        assertFalse(bare.hasChatTemplate());
        assertFalse(bare.addBosToken());
        assertEquals(OptionalInt.empty(), bare.bosId());
        ChatTemplateException e = assertThrows(ChatTemplateException.class, bare::chatTemplate);
        assertTrue(e.getMessage().contains("has no chat template"), e.getMessage());
    }

    @Test
    void aChatTemplateJinjaFileOverridesTheConfigTemplate(@TempDir Path dir) throws IOException {
        Files.copy(SharedTestData.deepSeekV3Tokenizer().resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.copy(SharedTestData.deepSeekV3Tokenizer().resolve("tokenizer_config.json"), dir.resolve("tokenizer_config.json"));
        Files.writeString(dir.resolve("chat_template.jinja"), "{% for m in messages %}[{{ m['content'] }}]{% endfor %}\n");
        HfTokenizer t = HfTokenizer.load(dir);
        assertEquals("[a][b]", t.chatTemplate().render(List.of(ChatMessage.user("a"), ChatMessage.user("b")), true,
                java.util.Map.of()));
    }

    @Test
    void manyThreadsEncodingAndDecodingAtOnceGetTheSameResultsAsOneThread() throws Exception {
        JsonNode cases = TestData.resourceJson("/golden/deepseek-v3-token-goldens.json").get("cases");
        List<String> strings = new ArrayList<>();
        List<String> expected = new ArrayList<>();
        for (JsonNode c : cases) {
            strings.add(c.get("string").asText());
            expected.add(c.get("ids").toString().replace(" ", ""));
        }
        HfTokenizer fresh = HfTokenizer.load(SharedTestData.deepSeekV3Tokenizer()); // empty word cache: threads race to fill it
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Callable<List<String>>> tasks = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int offset = t;
                tasks.add(() -> {
                    List<String> mismatches = new ArrayList<>();
                    for (int round = 0; round < 5; round++) {
                        for (int k = 0; k < strings.size(); k++) {
                            int i = (k + offset * 7) % strings.size();
                            int[] ids = fresh.encode(strings.get(i));
                            String actual = java.util.Arrays.toString(ids).replace(" ", "");
                            if (!actual.equals(expected.get(i))) {
                                mismatches.add(TestData.show(strings.get(i)));
                            }
                            fresh.decode(ids, round % 2 == 0);
                        }
                    }
                    return mismatches;
                });
            }
            for (Future<List<String>> f : pool.invokeAll(tasks)) {
                assertEquals(List.of(), f.get());
            }
        }
    }
}
