package dev.dsv2.tokenizer;

import java.util.Arrays;

/**
 * Turns a stream of generated token ids into text deltas, one {@link #accept} per id, such that
 * <ul>
 *   <li>the deltas concatenated (including {@link #finish}) equal {@code decode(allIds, skipSpecialTokens)};</li>
 *   <li>no delta ends inside a character: bytes of a multi-byte UTF-8 character split across tokens (an
 *       emoji in byte-level BPE is often 2-4 tokens) are held back until the character is complete, so a
 *       delta contains U+FFFD only where the full decode has one too (invalid bytes, or a stream that ends
 *       mid-character, which {@link #finish} reports as the full decode does).</li>
 * </ul>
 * Special tokens are skipped when {@code skipSpecialTokens}; otherwise their text is emitted like any other.
 *
 * <p>How: each id's bytes are appended to a small pending buffer; everything up to the last complete
 * character is decoded (Rust's lossy UTF-8 rules, see {@link Utf8}) and returned; an incomplete but still
 * valid tail (at most 3 bytes) stays pending. Cost per token is O(bytes of the token).
 *
 * <p>Not thread-safe: one instance per generated sequence.
 */
public final class StreamingDetokenizer {
    private final HfTokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private byte[] pending = new byte[16];
    private int pendingLength;

    StreamingDetokenizer(HfTokenizer tokenizer, boolean skipSpecialTokens) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
    }

    /**
     * Feeds one id and returns the text it completes (possibly empty).
     *
     * @throws IllegalArgumentException when the id is not in the vocabulary
     */
    public String accept(int id) {
        byte[] bytes = tokenizer.tokenBytes(id);
        if (skipSpecialTokens && tokenizer.isSpecial(id)) {
            return "";
        }
        if (pendingLength + bytes.length > pending.length) {
            pending = Arrays.copyOf(pending, Math.max(pending.length * 2, pendingLength + bytes.length));
        }
        System.arraycopy(bytes, 0, pending, pendingLength, bytes.length);
        pendingLength += bytes.length;
        StringBuilder out = new StringBuilder(pendingLength);
        int consumed = Utf8.decode(pending, 0, pendingLength, out, false);
        System.arraycopy(pending, consumed, pending, 0, pendingLength - consumed);
        pendingLength -= consumed;
        return out.toString();
    }

    /** Ends the stream: returns what is still pending (a cut-off character becomes U+FFFD) and resets. */
    public String finish() {
        String rest = Utf8.decodeLossy(pending, 0, pendingLength);
        pendingLength = 0;
        return rest;
    }

    /** Whether bytes of an incomplete character are being held back. */
    public boolean hasPending() {
        return pendingLength > 0;
    }
}
