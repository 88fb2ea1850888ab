package dev.dsv2.tokenizer;

/**
 * UTF-8 exactly as Rust (and therefore Hugging Face {@code tokenizers}) handles it.
 *
 * <ul>
 *   <li>{@link #sanitize}: a Java string may hold unpaired surrogates; Rust strings cannot. Every binding of
 *       the Rust library converts its input to UTF-8 first, replacing each unpaired surrogate with U+FFFD
 *       (Node's napi, Python's {@code str.encode(errors="replace")}-style bindings, JNI's modified UTF-8
 *       conversion in DJL). We do the same so ids match; {@link String#getBytes} would write {@code '?'}.</li>
 *   <li>{@link #decodeLossy}: {@code String::from_utf8_lossy}: every maximal invalid subsequence (the longest
 *       prefix of a valid sequence that is cut short, or else one byte) becomes one U+FFFD.</li>
 *   <li>{@link #decode} with {@code flush=false} stops before an incomplete but still valid tail, so a stream
 *       of bytes can be decoded in pieces that concatenate to exactly the lossy decoding of the whole.</li>
 * </ul>
 */
final class Utf8 {
    static final char REPLACEMENT = '\uFFFD';

    private Utf8() {
    }

    /** {@code s} with every unpaired surrogate replaced by U+FFFD (returns {@code s} itself when it has none). */
    static String sanitize(String s) {
        int n = s.length();
        int i = 0;
        while (i < n) {
            char c = s.charAt(i);
            if (Character.isSurrogate(c)) {
                if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                    i += 2;
                    continue;
                }
                break;
            }
            i++;
        }
        if (i == n) {
            return s;
        }
        StringBuilder out = new StringBuilder(n).append(s, 0, i);
        while (i < n) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                out.append(c).append(s.charAt(i + 1));
                i += 2;
            } else {
                out.append(Character.isSurrogate(c) ? REPLACEMENT : c);
                i++;
            }
        }
        return out.toString();
    }

    /** {@code String::from_utf8_lossy(bytes[from, to))}. */
    static String decodeLossy(byte[] bytes, int from, int to) {
        StringBuilder out = new StringBuilder(to - from);
        decode(bytes, from, to, out, true);
        return out.toString();
    }

    /**
     * Appends the lossy decoding of {@code bytes[from, to)} to {@code out}. With {@code flush=false} an
     * incomplete trailing sequence (a valid prefix that more bytes could complete) is left undecoded.
     *
     * @return the index of the first byte not decoded: {@code to}, or the start of the incomplete tail
     */
    static int decode(byte[] bytes, int from, int to, StringBuilder out, boolean flush) {
        int i = from;
        while (i < to) {
            int b0 = bytes[i] & 0xFF;
            if (b0 < 0x80) {
                out.append((char) b0);
                i++;
                continue;
            }
            int width = width(b0);
            if (width == 0) {
                out.append(REPLACEMENT);
                i++;
                continue;
            }
            // Count how many bytes after the lead continue a valid sequence (Rust's Utf8Chunks rules).
            int valid = 1;
            while (valid < width && i + valid < to && isValidContinuation(b0, valid, bytes[i + valid] & 0xFF)) {
                valid++;
            }
            if (valid == width) {
                appendCodePoint(bytes, i, width, out);
                i += width;
            } else if (i + valid == to && !flush) {
                return i; // an incomplete but so far valid sequence at the end: wait for more bytes
            } else {
                out.append(REPLACEMENT); // maximal invalid subsequence -> one U+FFFD
                i += valid;
            }
        }
        return to;
    }

    /** Length of the sequence a lead byte starts: 1..4, or 0 for a byte that cannot start one. */
    private static int width(int b0) {
        if (b0 < 0x80) {
            return 1;
        }
        if (b0 >= 0xC2 && b0 <= 0xDF) {
            return 2;
        }
        if (b0 >= 0xE0 && b0 <= 0xEF) {
            return 3;
        }
        if (b0 >= 0xF0 && b0 <= 0xF4) {
            return 4;
        }
        return 0;
    }

    /** Whether {@code b} may be byte number {@code index} (1..3) of a sequence led by {@code b0}. */
    private static boolean isValidContinuation(int b0, int index, int b) {
        if (index == 1) {
            return switch (b0) {
                case 0xE0 -> b >= 0xA0 && b <= 0xBF; // no overlong 3-byte forms
                case 0xED -> b >= 0x80 && b <= 0x9F; // no surrogates
                case 0xF0 -> b >= 0x90 && b <= 0xBF; // no overlong 4-byte forms
                case 0xF4 -> b >= 0x80 && b <= 0x8F; // nothing above U+10FFFF
                default -> b >= 0x80 && b <= 0xBF;
            };
        }
        return b >= 0x80 && b <= 0xBF;
    }

    private static void appendCodePoint(byte[] bytes, int i, int width, StringBuilder out) {
        int b0 = bytes[i] & 0xFF;
        int cp = switch (width) {
            case 2 -> ((b0 & 0x1F) << 6) | (bytes[i + 1] & 0x3F);
            case 3 -> ((b0 & 0x0F) << 12) | ((bytes[i + 1] & 0x3F) << 6) | (bytes[i + 2] & 0x3F);
            default -> ((b0 & 0x07) << 18) | ((bytes[i + 1] & 0x3F) << 12) | ((bytes[i + 2] & 0x3F) << 6)
                    | (bytes[i + 3] & 0x3F);
        };
        out.appendCodePoint(cp);
    }
}
