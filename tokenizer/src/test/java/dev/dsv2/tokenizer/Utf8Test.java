package dev.dsv2.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;

/** Rust's UTF-8 rules (expected values from {@code String::from_utf8_lossy} / the Rust reference). */
class Utf8Test {
    private static String lossy(int... unsignedBytes) {
        byte[] bytes = new byte[unsignedBytes.length];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) unsignedBytes[i];
        }
        return Utf8.decodeLossy(bytes, 0, bytes.length);
    }

    @Test
    void eachMaximalInvalidSubsequenceBecomesOneReplacementCharacter() {
        assertEquals("\uFFFD", lossy(0xF0, 0x9F, 0x98), "a cut 4-byte sequence is one U+FFFD");
        assertEquals("\uFFFDA", lossy(0xF0, 0x9F, 0x41), "cut, then a valid byte");
        assertEquals("\uFFFD\uFFFD", lossy(0xE0, 0x80), "E0 80 is overlong: lead and continuation each invalid");
        assertEquals("\uFFFD\uFFFD\uFFFD", lossy(0xED, 0xA0, 0x80), "an encoded surrogate is three errors");
        assertEquals("\uFFFD\uFFFD", lossy(0xC0, 0xAF), "C0 can never start a sequence");
        assertEquals("\uFFFD\uFFFD\uFFFD\uFFFD", lossy(0xF4, 0x90, 0x80, 0x80), "above U+10FFFF");
        assertEquals("é😀", lossy(0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80));
    }

    @Test
    void withoutFlushAnIncompleteButValidTailIsLeftForLater() {
        byte[] bytes = {(byte) 'a', (byte) 0xF0, (byte) 0x9F};
        StringBuilder out = new StringBuilder();
        assertEquals(1, Utf8.decode(bytes, 0, bytes.length, out, false));
        assertEquals("a", out.toString());
        byte[] invalidTail = {(byte) 'a', (byte) 0xE0, (byte) 0x80};
        out.setLength(0);
        assertEquals(3, Utf8.decode(invalidTail, 0, 3, out, false), "an invalid tail is not worth waiting for");
        assertEquals("a\uFFFD\uFFFD", out.toString());
    }

    @Test
    void unpairedSurrogatesBecomeReplacementCharactersAndValidPairsStay() {
        assertEquals("a\uFFFDb\uFFFD😀\uFFFD", Utf8.sanitize("a\uD800b\uDC00😀\uD83D"));
        String clean = "plain 😀 text";
        assertSame(clean, Utf8.sanitize(clean));
    }
}
