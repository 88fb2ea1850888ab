package dev.dsv2.engine.sample;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {
    private static final float[] SIX = {1.0f, 2.0f, 0.5f, -1.0f, 2.0f, 0.0f};
    private static final int DRAWS = 20_000;

    private static SamplingParams.Builder sampling(double temperature, long seed) {
        return SamplingParams.builder().temperature(temperature).seed(seed).maxTokens(100);
    }

    // ---- greedy -------------------------------------------------------------------------------------------------

    @Test
    void greedyIsTheArgmaxAndTheLowestIdWinsTies() {
        Sampler greedy = new Sampler(SamplingParams.greedy(10));
        assertEquals(1, greedy.sample(SIX, 0, 6));
        assertEquals(2, greedy.sample(new float[] {-3f, 5f, 7f, 7f, 7f}, 0, 5));
        assertEquals(0, greedy.sample(new float[] {4f, 4f}, 0, 2));
        assertEquals(3, greedy.sample(new float[] {Float.NEGATIVE_INFINITY, -9f, -9f, -8f}, 0, 4));
    }

    @Test
    void greedyOnAVocabSizedRowFindsTheArgmaxPastTheVectorBlocks() {
        float[] logits = randomLogits(129_280, 3);
        logits[129_279] = 50f;
        logits[70_001] = 50f;
        assertEquals(70_001, new Sampler(SamplingParams.greedy(1)).sample(logits, 0, 129_280));
    }

    @Test
    void samplesTheRowAtTheOffsetOfABatchArray() {
        float[] batch = new float[3 * 6];
        Arrays.fill(batch, 100f); // rows 0 and 2 would win everywhere if read by mistake
        System.arraycopy(SIX, 0, batch, 6, 6);
        for (long seed = 0; seed < 50; seed++) {
            Sampler fromBatch = new Sampler(sampling(0.9, seed).build());
            Sampler fromRow = new Sampler(sampling(0.9, seed).build());
            assertEquals(fromRow.sample(SIX, 0, 6), fromBatch.sample(batch, 6, 6));
        }
        assertEquals(1, new Sampler(SamplingParams.greedy(1)).sample(batch, 6, 6));
    }

    // ---- limits that reduce to greedy ---------------------------------------------------------------------------

    @Test
    void aTemperatureNearZeroAlwaysPicksTheArgmax() {
        SplittableRandom random = new SplittableRandom(5);
        for (int trial = 0; trial < 200; trial++) {
            float[] logits = randomLogits(300, random.nextLong());
            int argmax = new Sampler(SamplingParams.greedy(1)).sample(logits, 0, 300);
            Sampler cold = new Sampler(sampling(1e-4, trial).build());
            assertEquals(argmax, cold.sample(logits, 0, 300), "trial " + trial);
        }
    }

    @Test
    void inTheZeroTemperatureLimitTiedMaximaAreEquallyLikelyAndNothingElseIsDrawn() {
        float[] logits = {1f, 3f, 2.9999998f, 3f, -5f};
        Sampler cold = new Sampler(sampling(1e-70, 9).build());
        int[] counts = drawCounts(cold, logits, 4_000);
        assertEquals(0, counts[0] + counts[2] + counts[4]);
        assertEquals(2_000, counts[1], 150);
        assertEquals(2_000, counts[3], 150);
        assertArrayEquals(new double[] {0, 0.5, 0, 0.5, 0}, cold.probabilities(logits, 0, 5), 1e-15);
    }

    @Test
    void topKOfOneIsGreedy() {
        SplittableRandom random = new SplittableRandom(6);
        for (int trial = 0; trial < 200; trial++) {
            float[] logits = tiedLogits(500, random.nextLong());
            int argmax = new Sampler(SamplingParams.greedy(1)).sample(logits, 0, 500);
            Sampler topOne = new Sampler(sampling(1.5, trial).topK(1).build());
            assertEquals(argmax, topOne.sample(logits, 0, 500), "trial " + trial);
        }
    }

    @Test
    void aTinyTopPIsGreedyWithAndWithoutTopK() {
        SplittableRandom random = new SplittableRandom(8);
        for (int trial = 0; trial < 200; trial++) {
            float[] logits = tiedLogits(2_000, random.nextLong());
            int argmax = new Sampler(SamplingParams.greedy(1)).sample(logits, 0, 2_000);
            assertEquals(argmax, new Sampler(sampling(1.5, trial).topP(1e-9).build()).sample(logits, 0, 2_000));
            assertEquals(argmax, new Sampler(sampling(1.5, trial).topP(1e-9).topK(40).build())
                    .sample(logits, 0, 2_000));
            assertEquals(argmax, new Sampler(sampling(1.5, trial).topP(1e-9).topK(1_500).build())
                    .sample(logits, 0, 2_000));
        }
    }

    // ---- seeds --------------------------------------------------------------------------------------------------

    @Test
    void theSameSeedGivesTheSameTwoHundredDrawsAndAnotherSeedDiffers() {
        for (SamplingParams.Builder config : List.of(sampling(0.8, 0), sampling(1.2, 0).topK(50),
                sampling(1.0, 0).topP(0.9), sampling(1.0, 0).topK(1500).topP(0.95))) {
            int[] first = drawSequence(config.seed(1234).build());
            int[] again = drawSequence(config.seed(1234).build());
            int[] other = drawSequence(config.seed(1235).build());
            assertArrayEquals(first, again);
            assertNotEquals(Arrays.toString(first), Arrays.toString(other));
        }
    }

    @Test
    void aSeedPinsTheSameTokensOnEveryJvmAndCpu() {
        // Golden values: SplittableRandom and the bit-reproducible softmax are specified exactly, so these draws
        // must not change across runs, JVMs or CPUs (only with a deliberate change of the algorithm). They were
        // cross-checked with an independent Python implementation of SplittableRandom.nextDouble and of the spec
        // (Math.exp softmax, 231-token nucleus, cumulative draw in id order), which gives the same 12 tokens.
        float[] logits = new float[1000];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) Math.sin(i * 0.37) * 4f;
        }
        Sampler sampler = new Sampler(sampling(0.7, 20240501L).topP(0.9).build());
        int[] draws = new int[12];
        for (int i = 0; i < draws.length; i++) {
            draws[i] = sampler.sample(logits, 0, logits.length);
        }
        assertArrayEquals(GOLDEN, draws, Arrays.toString(draws));
    }

    private static final int[] GOLDEN = {599, 106, 650, 344, 292, 309, 463, 106, 497, 88, 411, 599};

    @Test
    void withoutASeedTwoSamplersDrawDifferentSequences() {
        SamplingParams unseeded = SamplingParams.builder().temperature(1.0).build();
        assertNotEquals(Arrays.toString(drawSequence(unseeded)), Arrays.toString(drawSequence(unseeded)));
    }

    // ---- distributions ------------------------------------------------------------------------------------------

    @Test
    void drawFrequenciesMatchSoftmaxOfLogitsOverTemperature() {
        double temperature = 0.8;
        double[] expected = referenceDistribution(SIX, temperature, 0, 1.0);
        int[] counts = drawCounts(new Sampler(sampling(temperature, 42).build()), SIX, DRAWS);
        // 99.9% quantile of chi-square with 5 degrees of freedom
        assertChiSquareBelow(counts, expected, 20.52);
    }

    @Test
    void topKNeverDrawsAnExcludedTokenAndKeepsTheRenormalisedProportions() {
        int[] counts = drawCounts(new Sampler(sampling(1.0, 43).topK(3).build()), SIX, DRAWS);
        assertEquals(0, counts[2] + counts[3] + counts[5]);
        double[] expected = referenceDistribution(SIX, 1.0, 3, 1.0);
        assertEquals(0.0, expected[2] + expected[3] + expected[5]);
        assertChiSquareBelow(counts, expected, 13.82); // 2 degrees of freedom
    }

    @Test
    void topPKeepsTheSmallestPrefixReachingPAndNeverDrawsOutsideIt() {
        // softmax(SIX) ~ [0.139, 0.378, 0.084, 0.019, 0.378, 0.051]: the two tied 2.0 tokens hold 0.756 < 0.8, so
        // p = 0.8 also keeps token 0 (0.895) and nothing else.
        double[] expected = referenceDistribution(SIX, 1.0, 0, 0.8);
        assertArrayEquals(new double[] {1, 1, 0, 0, 1, 0}, Arrays.stream(expected).map(Math::signum).toArray());
        int[] counts = drawCounts(new Sampler(sampling(1.0, 44).topP(0.8).build()), SIX, DRAWS);
        assertEquals(0, counts[2] + counts[3] + counts[5]);
        assertChiSquareBelow(counts, expected, 13.82);
    }

    @Test
    void topPAmongTiedTokensKeepsTheLowerId() {
        // The two 2.0 tokens each hold 0.378: p = 0.3 needs one of them, the lower id.
        Sampler sampler = new Sampler(sampling(1.0, 45).topP(0.3).build());
        assertArrayEquals(new double[] {0, 1, 0, 0, 0, 0}, sampler.probabilities(SIX, 0, 6), 0);
        int[] counts = drawCounts(sampler, SIX, 1000);
        assertEquals(1000, counts[1]);
    }

    @Test
    void theLargeTopKPathDrawsWithTheRightFrequencies() {
        // top_k 1050 > HEAP_TOP_K takes the histogram path; ten strong tokens carry nearly all the mass.
        int vocab = 1_100;
        float[] logits = new float[vocab];
        SplittableRandom random = new SplittableRandom(12);
        for (int i = 0; i < vocab; i++) {
            logits[i] = (float) (random.nextDouble() * 3 - 3);
        }
        int[] strong = {3, 150, 151, 400, 555, 700, 701, 899, 1000, 1099};
        for (int j = 0; j < strong.length; j++) {
            logits[strong[j]] = 4f + 0.3f * j;
        }
        Sampler sampler = new Sampler(sampling(1.0, 46).topK(1_050).build());
        double[] expected = referenceDistribution(logits, 1.0, 1_050, 1.0);
        assertArrayEquals(expected, sampler.probabilities(logits, 0, vocab), 1e-12);
        int[] counts = drawCounts(sampler, logits, DRAWS);
        double[] groupedExpected = new double[strong.length + 1];
        int[] groupedCounts = new int[strong.length + 1];
        for (int id = 0; id < vocab; id++) {
            int group = Arrays.binarySearch(strong, id);
            int g = group >= 0 ? group : strong.length;
            groupedExpected[g] += expected[id];
            groupedCounts[g] += counts[id];
            if (expected[id] == 0) {
                assertEquals(0, counts[id], "excluded token " + id);
            }
        }
        assertChiSquareBelow(groupedCounts, groupedExpected, 29.59); // 10 degrees of freedom
    }

    @Test
    void theDistributionEqualsASortingReferenceForEveryFilterCombination() {
        SplittableRandom random = new SplittableRandom(13);
        int[] vocabs = {1, 2, 7, 64, 1_500, 3_000};
        int[] topKs = {0, 1, 2, 5, 40, 1_024, 1_025, 1_400, 2_999, 4_000};
        double[] topPs = {1.0, 0.93, 0.61, 0.27, 0.013};
        double[] temperatures = {0.25, 1.0, 1.7};
        for (int vocab : vocabs) {
            for (int trial = 0; trial < 2; trial++) {
                float[] logits = trial == 0 ? tiedLogits(vocab, random.nextLong()) : randomLogits(vocab, random.nextLong());
                for (int topK : topKs) {
                    for (double topP : topPs) {
                        double temperature = temperatures[random.nextInt(temperatures.length)];
                        Sampler sampler = new Sampler(sampling(temperature, 1).topK(topK).topP(topP).build());
                        double[] expected = referenceDistribution(logits, temperature, topK, topP);
                        double[] actual = sampler.probabilities(logits, 0, vocab);
                        String label = "vocab " + vocab + " trial " + trial + " T " + temperature + " k " + topK
                                + " p " + topP;
                        for (int id = 0; id < vocab; id++) {
                            assertEquals(expected[id] > 0, actual[id] > 0, label + ": kept set differs at " + id);
                        }
                        assertArrayEquals(expected, actual, 1e-12, label);
                    }
                }
            }
        }
    }

    @Test
    void topPAloneGivesTheReferenceWhetherTheNucleusFitsTheProbeOrNeedsTheHistogram() {
        int vocab = 4_000;
        int draws = 5_000;
        float[] peaked = randomLogits(vocab, 31); // N(0, 9): 40 tokens lifted far above the rest
        for (int j = 0; j < 40; j++) {
            peaked[j * 97] = 14f + 0.1f * j;
        }
        float[] flat = new float[vocab];
        SplittableRandom random = new SplittableRandom(32);
        for (int i = 0; i < vocab; i++) {
            flat[i] = (float) random.nextGaussian();
        }
        for (float[] logits : List.of(peaked, flat)) {
            Sampler sampler = new Sampler(sampling(1.0, 47).topP(0.5).build());
            double[] expected = referenceDistribution(logits, 1.0, 0, 0.5);
            assertArrayEquals(expected, sampler.probabilities(logits, 0, vocab), 1e-12);
            long keptTokens = Arrays.stream(expected).filter(p -> p > 0).count();
            assertTrue(logits == peaked ? keptTokens <= Sampler.NUCLEUS_PROBE : keptTokens > 500,
                    keptTokens + " tokens kept");
            // (4,000 tokens of N(0, 1) at p = 0.5 keep well over the probe's 128, so the histogram decides.)
            // Draws: never outside the nucleus, and the 100 best kept tokens get their share (4 sigma).
            Integer[] order = new Integer[vocab];
            for (int i = 0; i < vocab; i++) {
                order[i] = i;
            }
            Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> -expected[i]).thenComparingInt(i -> i));
            double topShare = 0;
            boolean[] top = new boolean[vocab];
            for (int r = 0; r < 100; r++) {
                top[order[r]] = true;
                topShare += expected[order[r]];
            }
            int inTop = 0;
            for (int d = 0; d < draws; d++) {
                int id = sampler.sample(logits, 0, vocab);
                assertTrue(expected[id] > 0, "drew excluded token " + id);
                inTop += top[id] ? 1 : 0;
            }
            assertEquals(topShare * draws, inTop, 4 * Math.sqrt(draws * topShare * (1 - topShare)) + 1);
        }
    }

    // ---- errors -------------------------------------------------------------------------------------------------

    @Test
    void rejectsNanLogitsRowsThatDoNotFitAndOutOfRangeParameters() {
        Sampler sampler = new Sampler(sampling(1.0, 1).build());
        var nan = assertThrows(IllegalArgumentException.class,
                () -> sampler.sample(new float[] {0f, Float.NaN, 1f}, 0, 3));
        assertEquals("logit of token 1 is NaN; logits must be finite or -Infinity", nan.getMessage());
        var row = assertThrows(IllegalArgumentException.class, () -> sampler.sample(new float[10], 6, 5));
        assertEquals("logits row [offset 6, vocab 5] does not fit in an array of 10 floats "
                + "(need vocab >= 1 and offset >= 0)", row.getMessage());
        var hot = assertThrows(IllegalArgumentException.class, () -> new Sampler(sampling(2.5, 1).build()));
        assertEquals("temperature must be in [0, 2], got 2.5", hot.getMessage());
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    /**
     * The specification, written the slow way: softmax(x / T) in double with Math.exp, a full sort by probability
     * (then id), top-k as a prefix, top-p as the shortest prefix reaching p of the top-k mass, renormalised.
     */
    static double[] referenceDistribution(float[] logits, double temperature, int topK, double topP) {
        int n = logits.length;
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) {
            max = Math.max(max, x);
        }
        double[] w = new double[n];
        for (int i = 0; i < n; i++) {
            w[i] = Math.exp((logits[i] - max) / temperature);
        }
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            order.add(i);
        }
        order.sort(Comparator.<Integer>comparingDouble(i -> -w[i]).thenComparingInt(i -> i));
        int kept = topK > 0 ? Math.min(topK, n) : n;
        double mass = 0;
        for (int r = 0; r < kept; r++) {
            mass += w[order.get(r)];
        }
        if (topP < 1.0) {
            double cum = 0;
            for (int r = 0; r < kept; r++) {
                cum += w[order.get(r)] / mass;
                if (cum >= topP) {
                    kept = r + 1;
                    break;
                }
            }
        }
        double keptMass = 0;
        for (int r = 0; r < kept; r++) {
            keptMass += w[order.get(r)];
        }
        double[] p = new double[n];
        for (int r = 0; r < kept; r++) {
            p[order.get(r)] = w[order.get(r)] / keptMass;
        }
        return p;
    }

    private static void assertChiSquareBelow(int[] counts, double[] expectedProbabilities, double bound) {
        int total = Arrays.stream(counts).sum();
        double chiSquare = 0;
        for (int i = 0; i < counts.length; i++) {
            double expected = expectedProbabilities[i] * total;
            if (expected > 0) {
                chiSquare += (counts[i] - expected) * (counts[i] - expected) / expected;
            }
        }
        assertTrue(chiSquare < bound, "chi-square " + chiSquare + " >= " + bound + " for counts "
                + Arrays.toString(counts) + " vs probabilities " + Arrays.toString(expectedProbabilities));
    }

    private static int[] drawCounts(Sampler sampler, float[] logits, int draws) {
        int[] counts = new int[logits.length];
        for (int i = 0; i < draws; i++) {
            counts[sampler.sample(logits, 0, logits.length)]++;
        }
        return counts;
    }

    private static int[] drawSequence(SamplingParams params) {
        float[] logits = randomLogits(2_000, 99);
        Sampler sampler = new Sampler(params);
        int[] draws = new int[200];
        for (int i = 0; i < draws.length; i++) {
            draws[i] = sampler.sample(logits, 0, logits.length);
        }
        return draws;
    }

    static float[] randomLogits(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] logits = new float[n];
        for (int i = 0; i < n; i++) {
            logits[i] = (float) (random.nextGaussian() * 3);
        }
        return logits;
    }

    /** Logits on a coarse grid (many exact ties), a few of them masked with -Infinity. */
    static float[] tiedLogits(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] logits = new float[n];
        for (int i = 0; i < n; i++) {
            logits[i] = random.nextInt(20) == 0 ? Float.NEGATIVE_INFINITY : random.nextInt(-24, 12) * 0.25f;
        }
        logits[random.nextInt(n)] = 3f;
        return logits;
    }
}
