package dev.dsv2.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code added_tokens} of a {@code tokenizer.json} (special tokens such as {@code <｜begin▁of▁sentence｜>}
 * and plain added tokens such as {@code <｜User｜>}), and how they are cut out of the input text before the
 * pre-tokenizer runs. Exactly as Hugging Face {@code tokenizers} ({@code tokenizer/added_vocabulary.rs}):
 *
 * <ol>
 *   <li>tokens with {@code normalized=false} are matched in the raw text, then tokens with
 *       {@code normalized=true} in the remaining (normalized) pieces;</li>
 *   <li>each pass scans left to right and takes, at the leftmost position where any token matches, the
 *       longest one (Aho-Corasick "leftmost-longest"), then continues after it;</li>
 *   <li>{@code single_word} drops a match that touches a word character ({@code \w}) on either side;
 *       {@code lstrip}/{@code rstrip} let the match swallow the whitespace ({@code \s}) before/after it.</li>
 * </ol>
 * The only normalizer supported is the identity, so the normalized text equals the raw text.
 *
 * <p>Immutable and thread-safe.
 */
final class AddedVocabulary {
    /** One entry of {@code added_tokens}. */
    record AddedToken(int id, String content, boolean special, boolean singleWord, boolean lstrip,
                      boolean rstrip, boolean normalized) {
    }

    /** A piece of the input: plain text to pre-tokenize ({@code tokenId < 0}) or one added token. */
    record Segment(String text, int tokenId) {
        boolean isToken() {
            return tokenId >= 0;
        }
    }

    // Rust's `$` is the end of the text; Java's `$` would also match before a final line break, hence \z.
    private static final Pattern ENDS_WITH_WORD = Pattern.compile("\\w\\z", Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern STARTS_WITH_WORD = Pattern.compile("^\\w", Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern TRAILING_SPACE = Pattern.compile("\\s*\\z", Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern LEADING_SPACE = Pattern.compile("^\\s*", Pattern.UNICODE_CHARACTER_CLASS);

    private final List<AddedToken> tokens;
    private final Map<Integer, AddedToken> byId = new HashMap<>();
    private final Map<String, AddedToken> byContent = new HashMap<>();
    private final Trie rawTrie = new Trie();
    private final Trie normalizedTrie = new Trie();

    AddedVocabulary(List<AddedToken> tokens) {
        this.tokens = List.copyOf(tokens);
        for (AddedToken token : this.tokens) {
            if (token.content().isEmpty()) {
                continue; // HF ignores empty added tokens
            }
            byId.put(token.id(), token);
            byContent.put(token.content(), token);
            (token.normalized() ? normalizedTrie : rawTrie).add(token);
        }
    }

    List<AddedToken> tokens() {
        return tokens;
    }

    AddedToken byId(int id) {
        return byId.get(id);
    }

    AddedToken byContent(String content) {
        return byContent.get(content);
    }

    /** Cuts {@code text} into plain pieces and added tokens (empty plain pieces are dropped). */
    List<Segment> split(String text) {
        List<Segment> out = new ArrayList<>();
        if (byId.isEmpty()) {
            if (!text.isEmpty()) {
                out.add(new Segment(text, -1));
            }
            return out;
        }
        List<Segment> firstPass = new ArrayList<>();
        splitWith(text, rawTrie, firstPass);
        for (Segment segment : firstPass) {
            if (segment.isToken()) {
                out.add(segment);
            } else {
                splitWith(segment.text(), normalizedTrie, out);
            }
        }
        return out;
    }

    private void splitWith(String sentence, Trie trie, List<Segment> out) {
        int startOffset = 0;
        int pos = 0;
        int n = sentence.length();
        while (trie.size > 0 && pos < n) {
            long match = trie.findLeftmostLongest(sentence, pos);
            if (match < 0) {
                break;
            }
            int start = (int) (match >>> 32);
            int stop = (int) match;
            AddedToken token = trie.tokenAt(sentence, start, stop);
            pos = stop;
            if (token.singleWord()) {
                boolean spaceBefore = start == 0 || !ENDS_WITH_WORD.matcher(sentence.substring(0, start)).find();
                boolean spaceAfter = stop == n || !STARTS_WITH_WORD.matcher(sentence.substring(stop)).find();
                if (!spaceBefore || !spaceAfter) {
                    continue;
                }
            }
            if (token.lstrip()) {
                Matcher m = TRAILING_SPACE.matcher(sentence.substring(0, start));
                int newStart = m.find() ? m.start() : start;
                start = Math.max(newStart, startOffset);
            }
            if (token.rstrip()) {
                Matcher m = LEADING_SPACE.matcher(sentence.substring(stop));
                stop += m.find() ? m.end() : 0;
                pos = stop;
            }
            if (startOffset < start) {
                out.add(new Segment(sentence.substring(startOffset, start), -1));
            }
            out.add(new Segment(sentence.substring(start, stop), token.id()));
            startOffset = stop;
        }
        if (startOffset < n) {
            out.add(new Segment(sentence.substring(startOffset), -1));
        }
    }

    /** A character trie over token contents with a quick first-character filter. */
    private static final class Trie {
        private final Node root = new Node();
        private final java.util.BitSet firstChars = new java.util.BitSet(1 << 16);
        private int size;

        private static final class Node {
            final Map<Character, Node> children = new HashMap<>(4);
            AddedToken token;
        }

        void add(AddedToken token) {
            Node node = root;
            for (int i = 0; i < token.content().length(); i++) {
                node = node.children.computeIfAbsent(token.content().charAt(i), c -> new Node());
            }
            node.token = token;
            firstChars.set(token.content().charAt(0));
            size++;
        }

        /** The leftmost-longest match at or after {@code from}, packed as {@code start << 32 | end}, or -1. */
        long findLeftmostLongest(String s, int from) {
            for (int i = from; i < s.length(); i++) {
                if (!firstChars.get(s.charAt(i))) {
                    continue;
                }
                Node node = root;
                int longestEnd = -1;
                for (int j = i; j < s.length(); j++) {
                    node = node.children.get(s.charAt(j));
                    if (node == null) {
                        break;
                    }
                    if (node.token != null) {
                        longestEnd = j + 1;
                    }
                }
                if (longestEnd > 0) {
                    return ((long) i << 32) | longestEnd;
                }
            }
            return -1;
        }

        AddedToken tokenAt(String s, int start, int end) {
            Node node = root;
            for (int j = start; j < end; j++) {
                node = node.children.get(s.charAt(j));
            }
            return node.token;
        }
    }
}
