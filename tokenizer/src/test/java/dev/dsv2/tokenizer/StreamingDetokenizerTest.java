package dev.dsv2.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Streaming deltas concatenate to the full decode and never show a character before it is complete. */
class StreamingDetokenizerTest {
    private static final JsonNode GOLDEN = TestData.resourceJson("/golden/deepseek-v3-token-goldens.json");
    private final HfTokenizer tokenizer = TestData.deepSeekV3();

    private List<String> deltas(int[] ids, boolean skipSpecial) {
        StreamingDetokenizer detokenizer = tokenizer.newStreamingDetokenizer(skipSpecial);
        List<String> deltas = new ArrayList<>();
        for (int id : ids) {
            deltas.add(detokenizer.accept(id));
        }
        deltas.add(detokenizer.finish());
        return deltas;
    }

    @Test
    void concatenatedDeltasEqualTheFullDecodeForEveryGoldenString() {
        for (JsonNode c : GOLDEN.get("cases")) {
            int[] ids = TestData.ints(c.get("ids"));
            for (boolean skip : new boolean[] {false, true}) {
                List<String> deltas = deltas(ids, skip);
                assertEquals(tokenizer.decode(ids, skip), String.join("", deltas),
                        () -> TestData.show(c.get("string").asText()));
                for (String delta : deltas) {
                    assertFalse(!delta.isEmpty() && Character.isHighSurrogate(delta.charAt(delta.length() - 1)),
                            "a delta ends inside a surrogate pair: " + TestData.show(delta));
                    assertFalse(!delta.isEmpty() && Character.isLowSurrogate(delta.charAt(0)),
                            "a delta starts inside a surrogate pair: " + TestData.show(delta));
                }
            }
        }
    }

    @Test
    void afterEachTokenTheStreamedTextIsHuggingFacesPrefixDecodeWithoutAPendingReplacementCharacter() {
        // HF's decode of ids[0..k] ends in U+FFFD exactly when a character is cut; the stream holds it back.
        for (JsonNode c : GOLDEN.get("prefix_decodes")) {
            int[] ids = TestData.ints(c.get("ids"));
            StreamingDetokenizer detokenizer = tokenizer.newStreamingDetokenizer(false);
            StringBuilder streamed = new StringBuilder();
            for (int k = 0; k < ids.length; k++) {
                streamed.append(detokenizer.accept(ids[k]));
                String hfPrefix = c.get("prefixes").get(k).asText();
                String expected = detokenizer.hasPending() ? hfPrefix.substring(0, hfPrefix.length() - 1) : hfPrefix;
                assertEquals(expected, streamed.toString(), Arrays.toString(Arrays.copyOf(ids, k + 1)));
                if (detokenizer.hasPending()) {
                    assertTrue(hfPrefix.endsWith("\uFFFD"), "held back only where HF shows a cut character");
                }
            }
        }
    }

    @Test
    void anEmojiSplitAcrossTokensIsEmittedWholeWhenItsLastByteArrives() {
        int[] ids = tokenizer.encode("👍🏽!");
        assertTrue(ids.length > 3, "the emoji takes several byte-level tokens: " + Arrays.toString(ids));
        List<String> deltas = deltas(ids, false);
        assertEquals("👍🏽!", String.join("", deltas));
        assertFalse(deltas.stream().anyMatch(d -> d.contains("\uFFFD")), deltas.toString());
        assertTrue(deltas.contains(""), "some tokens complete no character: " + deltas);
    }

    @Test
    void aStreamThatStopsInsideACharacterEndsWithTheReplacementCharacterLikeTheFullDecode() {
        int[] ids = tokenizer.encode("ok 😀");
        int[] cut = Arrays.copyOf(ids, ids.length - 1);
        StreamingDetokenizer detokenizer = tokenizer.newStreamingDetokenizer(false);
        StringBuilder text = new StringBuilder();
        for (int id : cut) {
            text.append(detokenizer.accept(id));
        }
        assertEquals("ok ", text.toString());
        assertTrue(detokenizer.hasPending());
        assertEquals("\uFFFD", detokenizer.finish());
        assertEquals(tokenizer.decode(cut, false), "ok \uFFFD");
    }

    @Test
    void specialTokensAreSkippedOrShownPerFlag() {
        int[] ids = tokenizer.encode("<｜begin▁of▁sentence｜>Hi<｜end▁of▁sentence｜>");
        assertEquals("Hi", String.join("", deltas(ids, true)));
        assertEquals("<｜begin▁of▁sentence｜>Hi<｜end▁of▁sentence｜>", String.join("", deltas(ids, false)));
        int[] user = {128803}; // <｜User｜> is an added token but not a special one: never skipped
        assertEquals("<｜User｜>", String.join("", deltas(user, true)));
    }

    @Test
    void anUnknownIdIsRejectedWithAMessageNamingIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> tokenizer.newStreamingDetokenizer(false).accept(200_000));
        assertTrue(e.getMessage().contains("token id 200000 is not in the vocabulary"), e.getMessage());
    }
}
