package dev.dsv2.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code tojson} output equals Python's {@code json.dumps} (expected strings printed by CPython 3.11). */
class PythonJsonTest {
    private static String dumps(Object value) {
        return new PythonJson(false, null, null, false).dumps(value);
    }

    @Test
    void floatsUsePythonRepr() {
        assertEquals("[0.1, 1.0, 1e-05, 0.0001, 1e+16, 1234567890123456.0, 1.5e+300, -0.0, 2.5]",
                dumps(List.of(0.1, 1.0, 1e-5, 1e-4, 1e16, 1234567890123456.0, 1.5e300, -0.0, 2.5f)));
        assertEquals("[NaN, Infinity, -Infinity]",
                dumps(List.of(Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY)));
    }

    @Test
    void stringsEscapeOnlyQuotesBackslashesAndControlCharactersUnlessEnsureAscii() {
        String s = "q\" b\\ \n\t\u0001 é 😀 \u2028 \u007f";
        assertEquals("\"q\\\" b\\\\ \\n\\t\\u0001 é 😀 \u2028 \u007f\"", dumps(s));
        assertEquals("\"q\\\" b\\\\ \\n\\t\\u0001 \\u00e9 \\ud83d\\ude00 \\u2028 \\u007f\"",
                new PythonJson(true, null, null, false).dumps(s));
    }

    @Test
    void indentationAndSortedKeysLookLikePython() {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("b", List.of(1, 2));
        map.put("a", Map.of());
        map.put("c", null);
        assertEquals("{\"b\": [1, 2], \"a\": {}, \"c\": null}", dumps(map));
        assertEquals("{\n  \"a\": {},\n  \"b\": [\n    1,\n    2\n  ],\n  \"c\": null\n}",
                new PythonJson(false, "  ", null, true).dumps(map));
        assertEquals("{\"b\":[1,2],\"a\":{},\"c\":null}", new PythonJson(false, null, new String[] {",", ":"}, false)
                .dumps(map));
        assertEquals("[true, false, null, 3, \"x\"]", dumps(Arrays.asList(true, false, null, 3L, 'x')));
    }
}
