package dev.dsv2.engine.serve;

import dev.dsv2.engine.tensor.Bf16;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The expert wire codec: the bytes of each format, round trips of odd sizes at odd offsets, accumulation. */
class ExpertWireTest {

    private static float[] randomValues(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(-6, 6)));
        }
        return v;
    }

    @Test
    void f32IsLittleEndianFloat32AndBf16IsLittleEndianRoundedToNearestEven() {
        MemorySegment m = MemorySegment.ofArray(new byte[12]);
        ExpertWire.F32.write(new float[]{1.0f}, 0, 1, m, 0);
        // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to the even neighbour, 1.0 (0x3F80).
        // 1 + 3 * 2^-8 is halfway between 1.0078125 (odd) and 1.015625 (even): up, 0x3F82.
        ExpertWire.BF16.write(new float[]{1 + 0x1p-8f, 1 + 3 * 0x1p-8f, -2.0f}, 0, 3, m, 4);
        assertArrayEquals(new byte[]{0, 0, (byte) 0x80, 0x3F, (byte) 0x80, 0x3F, (byte) 0x82, 0x3F, 0, (byte) 0xC0,
                0, 0}, m.toArray(ValueLayout.JAVA_BYTE));
    }

    @Test
    void oddSizesRoundTripAtOddOffsets() {
        for (int n : new int[]{1, 3, 7, 17, 255, 1021}) {
            float[] src = randomValues(n + 5, n);
            for (ExpertWire w : ExpertWire.values()) {
                int at = 3; // unaligned
                MemorySegment m = MemorySegment.ofArray(new byte[at + n * w.bytes() + 1]);
                w.write(src, 5, n, m, at);
                float[] back = new float[n + 2];
                w.read(m, at, back, 1, n);
                for (int i = 0; i < n; i++) {
                    float want = w == ExpertWire.F32 ? src[5 + i] : Bf16.toFloat(Bf16.fromFloat(src[5 + i]));
                    assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(back[1 + i]),
                            w + " n " + n + " i " + i);
                }
                assertEquals(0f, back[0], "nothing before the range");
                assertEquals(0f, back[n + 1], "nothing after the range");
            }
        }
    }

    @Test
    void bf16KeepsSignedZerosInfinitiesAndNaNAndRoundsOverflowToInfinity() {
        float[] special = {0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.MAX_VALUE};
        MemorySegment m = MemorySegment.ofArray(new byte[2 * special.length]);
        ExpertWire.BF16.write(special, 0, special.length, m, 0);
        float[] back = new float[special.length];
        ExpertWire.BF16.read(m, 0, back, 0, special.length);
        assertEquals(Float.floatToIntBits(0f), Float.floatToIntBits(back[0]));
        assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(back[1]));
        assertEquals(Float.POSITIVE_INFINITY, back[2]);
        assertEquals(Float.NEGATIVE_INFINITY, back[3]);
        assertTrue(Float.isNaN(back[4]));
        assertEquals(Float.POSITIVE_INFINITY, back[5]);
    }

    @Test
    void addToAccumulatesTheDecodedValues() {
        float[] src = randomValues(19, 3);
        for (ExpertWire w : ExpertWire.values()) {
            ByteBuffer bytes = ByteBuffer.allocate(19 * w.bytes()).order(ByteOrder.BIG_ENDIAN); // order is ignored
            MemorySegment m = MemorySegment.ofBuffer(bytes);
            w.write(src, 0, 19, m, 0);
            float[] decoded = new float[19];
            w.read(m, 0, decoded, 0, 19);
            float[] acc = new float[19];
            Arrays.fill(acc, 0.5f);
            w.addTo(m.asReadOnly(), 0, acc, 0, 19);
            for (int i = 0; i < 19; i++) {
                assertEquals(0.5f + decoded[i], acc[i], w + " " + i);
            }
        }
    }

    @Test
    void valuesThatDoNotFitAreRefused() {
        MemorySegment m = MemorySegment.ofArray(new byte[7]);
        assertThrows(IndexOutOfBoundsException.class, () -> ExpertWire.F32.write(new float[2], 0, 2, m, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> ExpertWire.BF16.write(new float[4], 0, 4, m, 0));
    }

    @Test
    void parseNamesTheValueAndTheAcceptedOnes() {
        assertEquals(ExpertWire.BF16, ExpertWire.parse(" BF16 "));
        assertEquals(ExpertWire.F32, ExpertWire.parse("f32"));
        assertEquals("'fp16' is not a wire format (expected bf16 or f32)",
                assertThrows(IllegalArgumentException.class, () -> ExpertWire.parse("fp16")).getMessage());
    }
}
