package dev.dsv2.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Oniguruma patterns keep their meaning in java.util.regex. */
class OnigurumaRegexTest {
    private static List<String> matches(String onig, String text) throws TokenizerFormatException {
        Pattern p = OnigurumaRegex.compile(onig, "test");
        return OnigurumaRegex.findMatches(p, text).stream().map(m -> text.substring(m[0], m[1])).toList();
    }

    @Test
    void whitespaceClassIsUnicodeWhiteSpaceAsInOniguruma() throws TokenizerFormatException {
        assertEquals(List.of("\u00a0\u3000\u2028\u0085 "), matches("\\s+", "a\u00a0\u3000\u2028\u0085 b"));
        assertEquals(List.of(), matches("\\s", "\u200b"), "a zero-width space is not white space");
    }

    @Test
    void dollarAndCaretWorkPerLineWithOnlyNewlineEndingALine() throws TokenizerFormatException {
        assertEquals(List.of(" ", "  "), matches(" +$", "a \nb  "));
        assertEquals(List.of("a", "b"), matches("^.", "ab\nbc"));
        assertEquals(List.of(), matches("x$", "x\ry"), "\\r does not end a line");
    }

    @Test
    void onigurumaOnlySyntaxIsRewritten() throws TokenizerFormatException {
        assertEquals(List.of("1f", "A0"), matches("\\h+", "1fx A0"));
        assertEquals(List.of("x "), matches("\\H+", "1fx A0"));
        assertEquals(List.of("12", "3"), matches("\\p{^L}+", "12ab3"));
        assertEquals(List.of("ab", "c"), matches("[[:alpha:]]+", "ab1c"));
        assertEquals(List.of("1", "2"), matches("[[:^alpha:]]", "a1b2"));
    }

    @Test
    void anEmptyMatchRightAfterThePreviousMatchIsSkippedLikeOnigsFindIter() throws TokenizerFormatException {
        List<int[]> m = OnigurumaRegex.findMatches(OnigurumaRegex.compile("a*", "test"), "baa");
        assertEquals("[0-0, 1-3]", m.stream().map(x -> x[0] + "-" + x[1]).toList().toString());
    }

    @Test
    void anInvalidPatternIsAFormatErrorQuotingIt() {
        TokenizerFormatException e = assertThrows(TokenizerFormatException.class,
                () -> OnigurumaRegex.compile("[a-", "f.json: x.Regex"));
        assertTrue(e.getMessage().startsWith("f.json: x.Regex: regex \"[a-\" cannot be compiled: "), e.getMessage());
    }
}
