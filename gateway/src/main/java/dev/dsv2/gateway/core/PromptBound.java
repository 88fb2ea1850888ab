package dev.dsv2.gateway.core;

import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.tokenizer.HfTokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * A prompt's length in bytes, checked against the context limit before it is tokenized: no token covers more bytes
 * than the longest token of the vocabulary, so a prompt of {@code B} bytes has at least {@code B / longest} tokens,
 * and when that alone reaches the context limit the request is refused at once. Before this check a 9 MB prompt
 * was tokenized in full (1-6 s of CPU) only to be refused for its length.
 */
public final class PromptBound {
    private static final Map<HfTokenizer, Integer> LONGEST = new WeakHashMap<>();

    private PromptBound() {
    }

    /**
     * @throws ApiError INVALID_ARGUMENT {@code context_length_exceeded} when {@code bytes} cannot fit the context
     */
    static void check(ServedModel model, long bytes, String param) {
        long fewestTokens = bytes / longestToken(model.tokenizer());
        if (fewestTokens >= model.contextLimit()) {
            throw new ApiError(ApiError.Kind.INVALID_ARGUMENT, param, ApiError.CONTEXT_LENGTH_EXCEEDED, param + " is "
                    + bytes + " bytes long: at least " + fewestTokens + " tokens, but the context limit is "
                    + model.contextLimit() + " tokens (prompt + completion); shorten " + param);
        }
    }

    /** The most UTF-8 bytes one token of {@code tokenizer} spells (at least 1). */
    static int longestToken(HfTokenizer tokenizer) {
        synchronized (LONGEST) {
            return LONGEST.computeIfAbsent(tokenizer, t -> {
                int longest = 1;
                for (int id = 0; id < t.vocabSize(); id++) {
                    String text;
                    try {
                        text = t.tokenText(id);
                    } catch (IllegalArgumentException e) {
                        continue;
                    }
                    if (text != null) {
                        longest = Math.max(longest, text.getBytes(StandardCharsets.UTF_8).length);
                    }
                }
                return longest;
            });
        }
    }

    /** UTF-8 length of {@code s} without encoding it. */
    static long utf8Length(String s) {
        long n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                n += 1;
            } else if (c < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else {
                n += 3;
            }
        }
        return n;
    }
}
