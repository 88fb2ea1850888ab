package dev.dsv2.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.testsupport.SharedTestData;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/** Loads (once) the DeepSeek-V3 tokenizer of the shared test data, and the golden files. */
final class TestData {
    private static HfTokenizer deepSeekV3;

    private TestData() {
    }

    static synchronized HfTokenizer deepSeekV3() {
        if (deepSeekV3 == null) {
            try {
                deepSeekV3 = HfTokenizer.load(SharedTestData.deepSeekV3Tokenizer());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return deepSeekV3;
    }

    static JsonNode resourceJson(String name) {
        try (InputStream in = TestData.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("missing test resource " + name);
            }
            return new ObjectMapper().readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).intValue();
        }
        return out;
    }

    /** A string for failure messages: escapes controls and non-ASCII, cuts long strings. */
    static String show(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (int i = 0; i < Math.min(s.length(), 80); i++) {
            char c = s.charAt(i);
            out.append(c >= 0x20 && c < 0x7F ? String.valueOf(c) : String.format("\\u%04x", (int) c));
        }
        return out.append(s.length() > 80 ? "\"... (" + s.length() + " chars)" : "\"").toString();
    }

    /** Where two strings first differ, with some context of each. */
    static String firstDifference(String expected, String actual) {
        int i = 0;
        while (i < expected.length() && i < actual.length() && expected.charAt(i) == actual.charAt(i)) {
            i++;
        }
        int from = Math.max(0, i - 30);
        return "   first difference at char " + i + "\n   expected ..." + show(expected.substring(from, Math.min(expected.length(), i + 40)))
                + "\n   actual   ..." + show(actual.substring(from, Math.min(actual.length(), i + 40)));
    }
}
