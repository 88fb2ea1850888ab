package dev.dsv2.engine.sample;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SoftmaxKernelTest {

    @Test
    void expIsWithinThreeUlpOfStrictMathOverTheWholeDomain() {
        SplittableRandom random = new SplittableRandom(7);
        double worstUlps = 0;
        for (int i = 0; i < 200_000; i++) {
            double s = i < 100_000 ? -random.nextDouble() * 708 : -random.nextDouble() * 2;
            double expected = StrictMath.exp(s);
            worstUlps = Math.max(worstUlps, Math.abs(SoftmaxKernel.exp(s) - expected) / Math.ulp(expected));
        }
        assertTrue(worstUlps <= 3, "worst error " + worstUlps + " ulp");
        assertEquals(1.0, SoftmaxKernel.exp(0.0));
        assertEquals(1.0, SoftmaxKernel.exp(-0.0));
        assertEquals(StrictMath.exp(-708), SoftmaxKernel.exp(-708), 3 * Math.ulp(StrictMath.exp(-708)));
    }

    @Test
    void vectorWeightsAndSumAreBitIdenticalToTheScalarOracle() {
        SplittableRandom random = new SplittableRandom(11);
        int[] lengths = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1001, 102_400, 129_280};
        for (int n : lengths) {
            for (int offset : new int[] {0, 3}) {
                float[] logits = new float[offset + n + 5];
                for (int i = 0; i < logits.length; i++) {
                    logits[i] = random.nextInt(50) == 0 ? Float.NEGATIVE_INFINITY
                            : (float) (random.nextGaussian() * 4);
                }
                logits[offset + n / 2] = 20f;
                for (double temperature : new double[] {1.0, 0.37, 1.9, 1e-3}) {
                    double invT = SoftmaxKernel.inverseTemperature(temperature);
                    float max = SoftmaxKernel.maxLogit(logits, offset, n);
                    double[] vector = new double[n];
                    double[] scalar = new double[n];
                    double zVector = SoftmaxKernel.expWeights(logits, offset, n, max, invT, vector);
                    double zScalar = SoftmaxKernel.scalarExpWeights(logits, offset, n, max, invT, scalar);
                    assertArrayEquals(scalar, vector, "n=" + n + " offset=" + offset + " T=" + temperature);
                    assertEquals(Double.doubleToRawLongBits(zScalar), Double.doubleToRawLongBits(zVector));
                    assertEquals(Double.doubleToRawLongBits(zScalar),
                            Double.doubleToRawLongBits(SoftmaxKernel.sumExp(logits, offset, n, max, invT)));
                }
            }
        }
    }

    @Test
    void theMaxWeighsExactlyOneAndFarTokensAndMaskedTokensWeighZero() {
        float[] logits = {3f, -1000f, Float.NEGATIVE_INFINITY, 2f};
        double[] w = new double[4];
        double z = SoftmaxKernel.expWeights(logits, 0, 4, 3f, 1.0, w);
        assertEquals(1.0, w[0]);
        assertEquals(0.0, w[1]);
        assertEquals(0.0, w[2]);
        assertEquals(Math.exp(-1), w[3], 1e-15);
        assertEquals(1 + Math.exp(-1), z, 1e-15);
    }

    @Test
    void maxLogitNamesTheFirstNanOrPositiveInfinityAndRejectsAllMaskedRows() {
        float[] row = new float[40];
        row[33] = Float.NaN;
        row[35] = Float.POSITIVE_INFINITY;
        var nan = assertThrows(IllegalArgumentException.class, () -> SoftmaxKernel.maxLogit(row, 0, 40));
        assertEquals("logit of token 33 is NaN; logits must be finite or -Infinity", nan.getMessage());
        row[2] = Float.POSITIVE_INFINITY; // in the vector part this time
        var inf = assertThrows(IllegalArgumentException.class, () -> SoftmaxKernel.maxLogit(row, 0, 40));
        assertEquals("logit of token 2 is Infinity; logits must be finite or -Infinity", inf.getMessage());
        float[] vectorNan = new float[40];
        vectorNan[5] = Float.NaN;
        var inVector = assertThrows(IllegalArgumentException.class, () -> SoftmaxKernel.maxLogit(vectorNan, 0, 40));
        assertEquals("logit of token 5 is NaN; logits must be finite or -Infinity", inVector.getMessage());
        float[] masked = new float[20];
        java.util.Arrays.fill(masked, Float.NEGATIVE_INFINITY);
        var none = assertThrows(IllegalArgumentException.class, () -> SoftmaxKernel.maxLogit(masked, 0, 20));
        assertEquals("all 20 logits are -Infinity; no token can be chosen", none.getMessage());
    }

    @Test
    void maxLogitReadsOnlyItsRow() {
        float[] batch = {9f, 1f, 4f, 2f, 9f};
        assertEquals(4f, SoftmaxKernel.maxLogit(batch, 1, 3));
    }
}
