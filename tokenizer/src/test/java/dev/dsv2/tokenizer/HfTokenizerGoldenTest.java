package dev.dsv2.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.testsupport.SharedTestData;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Our ids and decodings equal those of the real Hugging Face {@code tokenizers} library, recorded in
 * {@code golden/deepseek-v3-token-goldens.json} by {@code src/test/golden/make_token_goldens.js}.
 */
class HfTokenizerGoldenTest {
    private static final JsonNode GOLDEN = TestData.resourceJson("/golden/deepseek-v3-token-goldens.json");
    private static HfTokenizer tokenizer;

    @BeforeAll
    static void load() {
        tokenizer = TestData.deepSeekV3();
    }

    @Test
    void theGoldenFileCoversAtLeastSixtyStrings() {
        assertTrue(GOLDEN.get("cases").size() >= 60, "cases: " + GOLDEN.get("cases").size());
    }

    @Test
    void encodeGivesTheIdsOfHuggingFaceTokenizersForEveryGoldenString() {
        List<String> failures = new ArrayList<>();
        for (JsonNode c : GOLDEN.get("cases")) {
            String s = c.get("string").asText();
            int[] expected = TestData.ints(c.get("ids"));
            int[] actual = tokenizer.encode(s);
            if (!Arrays.equals(expected, actual)) {
                failures.add(TestData.show(s) + "\n   expected " + Arrays.toString(expected)
                        + "\n   actual   " + Arrays.toString(actual));
            }
        }
        assertEquals(List.of(), failures, failures.size() + " strings encode differently");
    }

    @Test
    void decodeGivesTheTextOfHuggingFaceTokenizersWithAndWithoutSpecialTokens() {
        for (JsonNode c : GOLDEN.get("cases")) {
            int[] ids = TestData.ints(c.get("ids"));
            String s = c.get("string").asText();
            assertEquals(c.get("decoded").asText(), tokenizer.decode(ids, false), () -> TestData.show(s));
            assertEquals(c.get("decoded_skip_special").asText(), tokenizer.decode(ids, true), () -> TestData.show(s));
        }
    }

    @Test
    void decodeOfEncodeIsTheOriginalStringWhereverHuggingFaceRoundTrips() {
        int roundTrips = 0;
        for (JsonNode c : GOLDEN.get("cases")) {
            String s = c.get("string").asText();
            if (c.get("decoded").asText().equals(s)) {
                assertEquals(s, tokenizer.decode(tokenizer.encode(s), false), () -> TestData.show(s));
                roundTrips++;
            }
        }
        assertEquals(GOLDEN.get("cases").size() - 4, roundTrips, "all but the 4 lone-surrogate strings round-trip");
    }

    @Test
    void unpairedSurrogatesEncodeAsTheReplacementCharacterLikeUtf8Input() {
        assertArrayEqualsShown(tokenizer.encode("abc\uFFFDdef"), tokenizer.encode("abc\uD800def"));
        assertEquals("abc\uFFFDdef", tokenizer.decode(tokenizer.encode("abc\uD800def"), false));
        assertEquals("\uFFFD\uFFFD", tokenizer.decode(tokenizer.encode("\uDC00\uD800"), false));
    }

    @Test
    void lossyDecodingOfRandomIdSequencesMatchesRustFromUtf8Lossy() {
        for (JsonNode c : GOLDEN.get("random_decodes")) {
            int[] ids = TestData.ints(c.get("ids"));
            assertEquals(c.get("decoded").asText(), tokenizer.decode(ids, false), () -> Arrays.toString(ids));
            assertEquals(c.get("decoded_skip_special").asText(), tokenizer.decode(ids, true), () -> Arrays.toString(ids));
        }
    }

    @Test
    void decodingEveryIdPrefixMatchesHuggingFaceIncludingCharactersCutInHalf() {
        for (JsonNode c : GOLDEN.get("prefix_decodes")) {
            int[] ids = TestData.ints(c.get("ids"));
            for (int k = 1; k <= ids.length; k++) {
                int[] prefix = Arrays.copyOf(ids, k);
                assertEquals(c.get("prefixes").get(k - 1).asText(), tokenizer.decode(prefix, false),
                        () -> Arrays.toString(prefix));
            }
        }
    }

    @Test
    void everyConfigurationVariantEncodesLikeHuggingFace() throws IOException {
        JsonNode base = new ObjectMapper().readTree(SharedTestData.deepSeekV3Tokenizer().resolve("tokenizer.json").toFile());
        List<String> failures = new ArrayList<>();
        for (JsonNode variant : GOLDEN.get("variants")) {
            HfTokenizer t = HfTokenizer.fromJson(applyPatch(base, variant.get("patch")), TokenizerConfig.NONE,
                    "variant " + variant.get("name").asText());
            for (JsonNode c : variant.get("cases")) {
                String s = c.get("string").asText();
                int[] expected = TestData.ints(c.get("ids"));
                int[] actual = t.encode(s);
                if (!Arrays.equals(expected, actual)) {
                    failures.add(variant.get("name").asText() + " " + TestData.show(s) + "\n   expected "
                            + Arrays.toString(expected) + "\n   actual   " + Arrays.toString(actual));
                } else {
                    assertEquals(c.get("decoded").asText(), t.decode(actual, false));
                }
            }
        }
        assertEquals(List.of(), failures, failures.size() + " variant strings encode differently");
    }

    /** The same patch make_token_goldens.js applies (pre_tokenizer, model.ignore_merges, added token flags). */
    static JsonNode applyPatch(JsonNode base, JsonNode patch) {
        ObjectNode copy = base.deepCopy();
        if (patch.has("pre_tokenizer")) {
            copy.set("pre_tokenizer", patch.get("pre_tokenizer"));
        }
        if (patch.has("model_ignore_merges")) {
            ((ObjectNode) copy.get("model")).set("ignore_merges", patch.get("model_ignore_merges"));
        }
        if (patch.has("added_token_flags")) {
            for (JsonNode token : copy.get("added_tokens")) {
                JsonNode flags = patch.get("added_token_flags").get(token.get("content").asText());
                if (flags != null) {
                    for (Map.Entry<String, JsonNode> f : flags.properties()) {
                        ((ObjectNode) token).set(f.getKey(), f.getValue());
                    }
                }
            }
        }
        return copy;
    }

    private static void assertArrayEqualsShown(int[] expected, int[] actual) {
        assertEquals(Arrays.toString(expected), Arrays.toString(actual));
    }
}
