package dev.dsv2.engine.tensor;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Bf16Test {

    private static short bf(int bits) {
        return (short) bits;
    }

    private static short fromBits(int floatBits) {
        return Bf16.fromFloat(Float.intBitsToFloat(floatBits));
    }

    @Test
    void representableValuesConvertExactly() {
        assertEquals(bf(0x3F80), Bf16.fromFloat(1.0f));
        assertEquals(bf(0xC000), Bf16.fromFloat(-2.0f));
        assertEquals(bf(0x3E20), Bf16.fromFloat(0.15625f));
        assertEquals(1.0f, Bf16.toFloat(bf(0x3F80)));
        assertEquals(-2.0f, Bf16.toFloat(bf(0xC000)));
    }

    @Test
    void exactHalfwayRoundsToTheEvenNeighbour() {
        // 1 + 2^-8 lies halfway between bf16 0x3F80 (even) and 0x3F81: stays at 0x3F80.
        assertEquals(bf(0x3F80), fromBits(0x3F808000));
        // 1 + 3*2^-8 lies halfway between 0x3F81 and 0x3F82 (even): goes up.
        assertEquals(bf(0x3F82), fromBits(0x3F818000));
        // Negative halfway cases mirror that.
        assertEquals(bf(0xBF80), fromBits(0xBF808000));
        assertEquals(bf(0xBF82), fromBits(0xBF818000));
    }

    @Test
    void belowAndAboveHalfwayRoundToNearest() {
        assertEquals(bf(0x3F80), fromBits(0x3F807FFF));
        assertEquals(bf(0x3F81), fromBits(0x3F808001));
    }

    @Test
    void nanStaysNanEvenWhenItsPayloadIsOnlyInTheDroppedBits() {
        short quiet = Bf16.fromFloat(Float.NaN);
        assertTrue(Float.isNaN(Bf16.toFloat(quiet)));
        // Plain truncation of 0x7F800001 would give 0x7F80, which is +infinity.
        assertTrue(Float.isNaN(Bf16.toFloat(fromBits(0x7F800001))));
        assertTrue(Float.isNaN(Bf16.toFloat(fromBits(0xFF800001))));
        assertTrue(Float.isNaN(Bf16.toFloat(fromBits(0x7FFFFFFF))));
    }

    @Test
    void infinitiesAndSignedZerosAreKept() {
        assertEquals(bf(0x7F80), Bf16.fromFloat(Float.POSITIVE_INFINITY));
        assertEquals(bf(0xFF80), Bf16.fromFloat(Float.NEGATIVE_INFINITY));
        assertEquals(bf(0x0000), Bf16.fromFloat(0.0f));
        assertEquals(bf(0x8000), Bf16.fromFloat(-0.0f));
        assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(Bf16.toFloat(bf(0x8000))));
    }

    @Test
    void finiteValuesBeyondTheBf16RangeRoundToInfinity() {
        assertEquals(bf(0x7F80), Bf16.fromFloat(Float.MAX_VALUE));
        assertEquals(bf(0xFF80), Bf16.fromFloat(-Float.MAX_VALUE));
        // The largest finite bf16 is 0x7F7F.
        assertEquals(bf(0x7F7F), fromBits(0x7F7F0000));
    }

    @Test
    void everyNonNanBf16SurvivesARoundTrip() {
        for (int b = 0; b < 0x10000; b++) {
            float f = Bf16.toFloat((short) b);
            if (!Float.isNaN(f)) {
                assertEquals((short) b, Bf16.fromFloat(f), "bf16 0x" + Integer.toHexString(b));
            }
        }
    }

    @Test
    void randomFloatsRoundToANearestNeighbourAndTiesToEven() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < 200_000; i++) {
            float f = Float.intBitsToFloat(rnd.nextInt());
            if (Float.isNaN(f) || Float.isInfinite(f) || Math.abs(f) >= 3.38e38f) {
                continue;
            }
            int bits = Float.floatToRawIntBits(f);
            short down = (short) (bits >>> 16);
            short up = (short) (down + 1);
            short got = Bf16.fromFloat(f);
            double errDown = Math.abs((double) f - Bf16.toFloat(down));
            double errUp = Math.abs((double) f - Bf16.toFloat(up));
            short want = errDown < errUp ? down : errUp < errDown ? up : ((down & 1) == 0 ? down : up);
            assertEquals(want, got, "float bits 0x" + Integer.toHexString(bits));
        }
    }
}
