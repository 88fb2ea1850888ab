package dev.dsv2.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Regexes of {@code tokenizer.json} ({@code "pattern": {"Regex": ...}}), which Hugging Face {@code tokenizers}
 * runs with Oniguruma (the {@code onig} crate, default syntax, UTF-8), compiled for {@link java.util.regex}
 * with the same meaning:
 *
 * <ul>
 *   <li>{@code \s \w \d \b} and POSIX classes are Unicode-aware in Oniguruma: {@link Pattern#UNICODE_CHARACTER_CLASS}
 *       ({@code \s} = White_Space, as Oniguruma's Unicode {@code \s});</li>
 *   <li>{@code ^}/{@code $} match at line starts/ends and only {@code \n} ends a line:
 *       {@link Pattern#MULTILINE} and {@link Pattern#UNIX_LINES};</li>
 *   <li>Oniguruma-only syntax is rewritten: {@code \h}/{@code \H} (hex digit), {@code \p{^X}} (negated
 *       property), {@code [[:alpha:]]}-style POSIX brackets;</li>
 *   <li>{@link #findMatches}: like {@code onig}'s {@code find_iter}, an empty match right where the previous
 *       match ended is skipped.</li>
 * </ul>
 * Differences that remain are the Unicode versions of the two engines' tables (characters assigned after
 * Unicode 15 may have different properties) and syntax neither tokenizer family uses.
 */
final class OnigurumaRegex {
    private static final int FLAGS = Pattern.UNICODE_CHARACTER_CLASS | Pattern.MULTILINE | Pattern.UNIX_LINES;
    private static final Map<String, String> POSIX = Map.ofEntries(
            Map.entry("alpha", "\\p{Alpha}"), Map.entry("digit", "\\p{Digit}"), Map.entry("alnum", "\\p{Alnum}"),
            Map.entry("upper", "\\p{Upper}"), Map.entry("lower", "\\p{Lower}"), Map.entry("space", "\\p{Space}"),
            Map.entry("punct", "\\p{Punct}"), Map.entry("xdigit", "\\p{XDigit}"), Map.entry("cntrl", "\\p{Cntrl}"),
            Map.entry("print", "\\p{Print}"), Map.entry("graph", "\\p{Graph}"), Map.entry("blank", "\\p{Blank}"),
            Map.entry("word", "\\w"));

    private OnigurumaRegex() {
    }

    /** Compiles an Oniguruma pattern; {@code where} names the JSON field for error messages. */
    static Pattern compile(String onigPattern, String where) throws TokenizerFormatException {
        try {
            return Pattern.compile(translate(onigPattern), FLAGS);
        } catch (IllegalArgumentException e) { // PatternSyntaxException, or our own rewrite refusing syntax
            throw new TokenizerFormatException(where + ": regex " + quote(onigPattern)
                    + " cannot be compiled: " + e.getMessage());
        }
    }

    /** A literal pattern ({@code "pattern": {"String": ...}}). */
    static Pattern literal(String text) {
        return Pattern.compile(Pattern.quote(text));
    }

    static String translate(String p) {
        StringBuilder out = new StringBuilder(p.length() + 16);
        int classDepth = 0;
        for (int i = 0; i < p.length(); i++) {
            char c = p.charAt(i);
            if (c == '\\' && i + 1 < p.length()) {
                char e = p.charAt(i + 1);
                if (e == 'h' || e == 'H') {
                    boolean negated = e == 'H';
                    if (classDepth > 0 && negated) {
                        throw new IllegalArgumentException("\\H inside a character class is not supported");
                    }
                    out.append(classDepth > 0 ? "0-9a-fA-F" : negated ? "[^0-9a-fA-F]" : "[0-9a-fA-F]");
                    i++;
                } else if ((e == 'p' || e == 'P') && p.startsWith("{^", i + 2)) {
                    out.append('\\').append(e == 'p' ? 'P' : 'p').append('{');
                    i += 3; // the '{^' is replaced by '{'; the name and '}' follow unchanged
                } else {
                    out.append(c).append(e);
                    i++;
                }
            } else if (c == '[' && classDepth > 0 && p.startsWith("[:", i)) {
                int close = p.indexOf(":]", i + 2);
                String name = close < 0 ? null : p.substring(i + 2, close);
                boolean negated = name != null && name.startsWith("^");
                String java = name == null ? null : POSIX.get(negated ? name.substring(1) : name);
                if (java == null) {
                    out.append(c);
                    classDepth++;
                } else {
                    out.append(negated ? java.replace("\\p", "\\P").replace("\\w", "\\W") : java);
                    i = close + 1;
                }
            } else {
                if (c == '[') {
                    classDepth++;
                } else if (c == ']' && classDepth > 0) {
                    classDepth--;
                }
                out.append(c);
            }
        }
        return out.toString();
    }

    /**
     * The matches of {@code pattern} in {@code text} as {@code [start, end)} pairs, in order, without
     * overlaps; an empty match immediately after the previous match is skipped (onig's {@code find_iter}).
     */
    static List<int[]> findMatches(Pattern pattern, String text) {
        List<int[]> matches = new ArrayList<>();
        Matcher m = pattern.matcher(text);
        int from = 0;
        int lastEnd = -1;
        int n = text.length();
        while (from <= n && m.find(from)) {
            int start = m.start();
            int end = m.end();
            if (start == end && start == lastEnd) {
                if (start >= n) {
                    break;
                }
                from = start + Character.charCount(text.codePointAt(start));
                continue;
            }
            matches.add(new int[] {start, end});
            lastEnd = end;
            from = end;
        }
        return matches;
    }

    private static String quote(String s) {
        return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n").replace("\r", "\\r") + '"';
    }
}
