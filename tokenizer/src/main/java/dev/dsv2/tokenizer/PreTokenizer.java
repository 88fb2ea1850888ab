package dev.dsv2.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The {@code pre_tokenizer} of a {@code tokenizer.json}: cuts a text piece into the "words" that BPE then
 * encodes independently. Semantics follow Hugging Face {@code tokenizers} ({@code pre_tokenizers/*.rs},
 * {@code NormalizedString::split}); empty pieces are always dropped.
 *
 * <p>Every piece stays a substring of the input except that {@link ByteLevel} may prepend a space; the
 * byte-level alphabet mapping itself is left to the model, which works on UTF-8 bytes directly.
 * Implementations are immutable and thread-safe.
 */
sealed interface PreTokenizer {

    /** Appends the pieces of {@code piece} to {@code out}. */
    void split(String piece, List<String> out);

    /** How a {@link Split} treats the delimiter matches (HF {@code SplitDelimiterBehavior}). */
    enum Behavior { REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS }

    /** {@code {"type": "Split", "pattern": {"Regex"|"String": ...}, "behavior": ..., "invert": ...}}. */
    record Split(Pattern pattern, boolean matchesNothing, Behavior behavior, boolean invert)
            implements PreTokenizer {
        @Override
        public void split(String piece, List<String> out) {
            List<int[]> matches = matchesNothing ? List.of() : OnigurumaRegex.findMatches(pattern, piece);
            applyBehavior(piece, matches, invert, behavior, out);
        }
    }

    /** {@code {"type": "Digits", "individual_digits": ...}}: numbers (Unicode N*) isolated or grouped. */
    record Digits(boolean individualDigits) implements PreTokenizer {
        @Override
        public void split(String piece, List<String> out) {
            List<int[]> matches = new ArrayList<>();
            for (int i = 0; i < piece.length(); ) {
                int cp = piece.codePointAt(i);
                int next = i + Character.charCount(cp);
                if (isNumeric(cp)) {
                    matches.add(new int[] {i, next});
                }
                i = next;
            }
            applyBehavior(piece, matches, false, individualDigits ? Behavior.ISOLATED : Behavior.CONTIGUOUS, out);
        }

        /** Rust's {@code char::is_numeric}: general category Nd, Nl or No. */
        private static boolean isNumeric(int cp) {
            int type = Character.getType(cp);
            return type == Character.DECIMAL_DIGIT_NUMBER || type == Character.LETTER_NUMBER
                    || type == Character.OTHER_NUMBER;
        }
    }

    /**
     * {@code {"type": "ByteLevel", "add_prefix_space": ..., "use_regex": ...}}: optionally prepends a space to
     * each piece that does not start with one, and optionally splits with GPT-2's regex. Must come last.
     */
    record ByteLevel(boolean addPrefixSpace, boolean useRegex) implements PreTokenizer {
        static final Pattern GPT2 = Pattern.compile(
                "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
                Pattern.UNICODE_CHARACTER_CLASS | Pattern.MULTILINE | Pattern.UNIX_LINES);

        @Override
        public void split(String piece, List<String> out) {
            String text = addPrefixSpace && !piece.startsWith(" ") ? " " + piece : piece;
            if (useRegex) {
                applyBehavior(text, OnigurumaRegex.findMatches(GPT2, text), false, Behavior.ISOLATED, out);
            } else if (!text.isEmpty()) {
                out.add(text);
            }
        }
    }

    /** {@code {"type": "Sequence", "pretokenizers": [...]}}: each stage splits every piece of the previous. */
    record Sequence(List<PreTokenizer> stages) implements PreTokenizer {
        @Override
        public void split(String piece, List<String> out) {
            List<String> current = List.of(piece);
            for (PreTokenizer stage : stages) {
                List<String> next = new ArrayList<>(current.size() * 4);
                for (String p : current) {
                    stage.split(p, next);
                }
                current = next;
            }
            for (String p : current) {
                if (!p.isEmpty()) {
                    out.add(p);
                }
            }
        }
    }

    /**
     * Turns the matches of a delimiter into pieces per {@code behavior} ({@code NormalizedString::split}):
     * the text is covered by alternating non-match/match spans, which are then kept, dropped or merged.
     */
    private static void applyBehavior(String text, List<int[]> matches, boolean invert, Behavior behavior,
                                      List<String> out) {
        if (text.isEmpty()) {
            return;
        }
        // (start, end, isMatch) spans covering the whole text, as HF's Pattern::find_matches.
        List<int[]> spans = new ArrayList<>(matches.size() * 2 + 1);
        int prev = 0;
        for (int[] m : matches) {
            if (prev != m[0]) {
                spans.add(new int[] {prev, m[0], invert ? 1 : 0});
            }
            spans.add(new int[] {m[0], m[1], invert ? 0 : 1});
            prev = m[1];
        }
        if (prev != text.length()) {
            spans.add(new int[] {prev, text.length(), invert ? 1 : 0});
        }
        switch (behavior) {
            case ISOLATED -> spans.forEach(s -> add(text, s[0], s[1], out));
            case REMOVED -> spans.stream().filter(s -> s[2] == 0).forEach(s -> add(text, s[0], s[1], out));
            case CONTIGUOUS, MERGED_WITH_PREVIOUS -> {
                List<int[]> acc = new ArrayList<>();
                boolean prevMatch = false;
                for (int[] s : spans) {
                    boolean isMatch = s[2] == 1;
                    boolean merge = behavior == Behavior.CONTIGUOUS ? isMatch == prevMatch : isMatch && !prevMatch;
                    if (merge && !acc.isEmpty()) {
                        acc.getLast()[1] = s[1];
                    } else {
                        acc.add(new int[] {s[0], s[1]});
                    }
                    prevMatch = isMatch;
                }
                acc.forEach(s -> add(text, s[0], s[1], out));
            }
            case MERGED_WITH_NEXT -> {
                List<int[]> acc = new ArrayList<>();
                boolean prevMatch = false;
                for (int i = spans.size() - 1; i >= 0; i--) {
                    int[] s = spans.get(i);
                    boolean isMatch = s[2] == 1;
                    if (isMatch && !prevMatch && !acc.isEmpty()) {
                        acc.getLast()[0] = s[0];
                    } else {
                        acc.add(new int[] {s[0], s[1]});
                    }
                    prevMatch = isMatch;
                }
                for (int i = acc.size() - 1; i >= 0; i--) {
                    add(text, acc.get(i)[0], acc.get(i)[1], out);
                }
            }
        }
    }

    private static void add(String text, int start, int end, List<String> out) {
        if (end > start) {
            out.add(start == 0 && end == text.length() ? text : text.substring(start, end));
        }
    }
}
