package dev.dsv2.engine.sample;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class LogprobsTest {

    @Test
    void logprobsOfAKnownRowMatchHandComputedValues() {
        // log(e^1 + e^2 + e^3) = 3.40760596444438
        float[] logits = {1f, 2f, 3f};
        assertEquals(-2.40760596444438, Logprobs.of(logits, 0, 3, 0), 1e-6);
        assertEquals(-1.40760596444438, Logprobs.of(logits, 0, 3, 1), 1e-6);
        assertEquals(-0.40760596444438, Logprobs.of(logits, 0, 3, 2), 1e-6);
        TopLogprobs top = Logprobs.top(logits, 0, 3, 2);
        assertArrayEquals(new int[] {2, 1}, top.ids());
        assertArrayEquals(new float[] {-0.40760596f, -1.40760596f}, top.logprobs(), 1e-6f);
    }

    @Test
    void topIsBestFirstWithTiesByLowerIdAndIgnoresSamplingParameters() {
        float[] logits = {0.5f, 2f, 2f, Float.NEGATIVE_INFINITY};
        TopLogprobs top = Logprobs.top(logits, 0, 4, 4);
        assertArrayEquals(new int[] {1, 2, 0, 3}, top.ids());
        assertArrayEquals(new float[] {-0.79891618f, -0.79891618f, -2.29891618f, Float.NEGATIVE_INFINITY},
                top.logprobs(), 1e-6f);
        assertEquals(Float.NEGATIVE_INFINITY, Logprobs.of(logits, 0, 4, 3));
    }

    @Test
    void probabilitiesOfAFullVocabSumToOne() {
        float[] logits = SamplerTest.randomLogits(102_400, 21);
        TopLogprobs all = Logprobs.top(logits, 0, logits.length, logits.length);
        double sum = 0;
        for (int r = 0; r < all.size(); r++) {
            sum += Math.exp(all.logprob(r));
            if (r > 0) {
                assertEquals(true, all.logprob(r) <= all.logprob(r - 1), "rank " + r + " out of order");
            }
        }
        assertEquals(1.0, sum, 1e-6);
        int chosen = 777;
        assertEquals(Math.log(Math.exp(logits[chosen]) / sumExp(logits)), Logprobs.of(logits, 0, logits.length, chosen),
                1e-5);
    }

    @Test
    void hugeLogitsStayFiniteThanksToTheMaxShift() {
        float[] logits = {1000f, 0f, 999f};
        TopLogprobs top = Logprobs.top(logits, 0, 3, 3);
        assertArrayEquals(new int[] {0, 2, 1}, top.ids());
        double logZ = 1000 + Math.log1p(Math.exp(-1) + Math.exp(-1000));
        assertArrayEquals(new float[] {(float) (1000 - logZ), (float) (999 - logZ), (float) (0 - logZ)},
                top.logprobs(), 1e-6f);
    }

    @Test
    void readsTheRowAtTheOffsetAndClampsKToTheVocab() {
        float[] batch = {50f, 50f, 1f, 2f, 3f, 50f};
        TopLogprobs top = Logprobs.top(batch, 2, 3, 20);
        assertArrayEquals(new int[] {2, 1, 0}, top.ids());
        assertEquals(-0.40760596f, top.logprob(0), 1e-6f);
        assertEquals(0, Logprobs.top(batch, 2, 3, 0).size());
    }

    @Test
    void rejectsBadTokenIdsAndNegativeK() {
        float[] logits = {1f, 2f};
        var id = assertThrows(IllegalArgumentException.class, () -> Logprobs.of(logits, 0, 2, 2));
        assertEquals("logprob of token 2: token id must be in [0, 2)", id.getMessage());
        var k = assertThrows(IllegalArgumentException.class, () -> Logprobs.top(logits, 0, 2, -1));
        assertEquals("top logprobs: k must be >= 0, got -1", k.getMessage());
    }

    @Test
    void topLogprobsIsAnImmutableValue() {
        int[] ids = {4, 2};
        float[] lp = {-0.1f, -2f};
        TopLogprobs top = new TopLogprobs(ids, lp);
        ids[0] = 9;
        top.ids()[1] = 9;
        assertArrayEquals(new int[] {4, 2}, top.ids());
        assertEquals(new TopLogprobs(new int[] {4, 2}, new float[] {-0.1f, -2f}), top);
        assertEquals(new TopLogprobs(new int[] {4, 2}, new float[] {-0.1f, -2f}).hashCode(), top.hashCode());
        assertEquals("TopLogprobs[4=-0.1, 2=-2.0]", top.toString());
        var mismatch = assertThrows(IllegalArgumentException.class,
                () -> new TopLogprobs(new int[] {1}, new float[0]));
        assertEquals("TopLogprobs needs two arrays of equal length, got ids 1 and logprobs 0", mismatch.getMessage());
    }

    private static double sumExp(float[] logits) {
        double sum = 0;
        for (float x : logits) {
            sum += Math.exp(x);
        }
        return sum;
    }
}
