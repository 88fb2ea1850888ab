package dev.dsv2.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * GPT-2's byte-level alphabet: a bijection between the 256 byte values and 256 printable characters, so
 * that every byte string can be spelled as a "word" of vocabulary characters. Printable Latin-1 bytes map
 * to themselves ({@code '!'..'~'}, {@code '¡'..'¬'}, {@code '®'..'ÿ'}); the other 68 bytes map, in order,
 * to U+0100..U+0143 (so {@code ' '} is {@code 'Ġ'} and {@code '\n'} is {@code 'Ċ'}).
 *
 * <p>Vocabulary entries are written in this alphabet. {@link #tokenBytes} inverts it the way the Hugging
 * Face {@code ByteLevel} decoder does: a token whose characters are all in the alphabet stands for those
 * bytes; any other token (an added token such as {@code <｜User｜>}) stands for its own UTF-8 bytes.
 */
final class ByteLevel {
    /** BYTE_TO_CHAR[b] is the alphabet character for byte b. */
    private static final char[] BYTE_TO_CHAR = new char[256];
    /** CHAR_TO_BYTE[c] is the byte for alphabet character c (c < 0x144), or -1. */
    private static final short[] CHAR_TO_BYTE = new short[0x144];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, (short) -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + extra++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = (short) b;
        }
    }

    private ByteLevel() {
    }

    static char charOf(int unsignedByte) {
        return BYTE_TO_CHAR[unsignedByte];
    }

    /** The byte an alphabet character stands for, or -1 if {@code c} is not in the alphabet. */
    static int byteOf(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }

    /** The bytes a token string decodes to (see the class comment). */
    static byte[] tokenBytes(String token) {
        byte[] bytes = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            int b = byteOf(token.charAt(i));
            if (b < 0) {
                return token.getBytes(StandardCharsets.UTF_8);
            }
            bytes[i] = (byte) b;
        }
        return bytes;
    }

    /** The alphabet spelling of some bytes, e.g. {@code " the"} to {@code "Ġthe"}. */
    static String spell(byte[] bytes, int from, int to) {
        char[] chars = new char[to - from];
        for (int i = from; i < to; i++) {
            chars[i - from] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(chars);
    }
}
