package dev.dsv2.engine.model;

import dev.dsv2.engine.cache.CacheSequence;
import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.scalar.ScalarBackend;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.testsupport.TestCheckpoints;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Self-consistency of the engine's independent paths on random checkpoints of both structures (V2-Lite: plain
 * q_proj + greedy routing; V2: q-LoRA + group-limited routing): absorbed vs expanded MLA, incremental decode over
 * the cache vs full recomputation, chunked vs whole prefill, a mixed batch vs each sequence alone, vector vs scalar
 * kernels.
 */
class ModelConsistencyTest {
    private static final int[] PROMPT = {0, 17, 250, 3, 999, 42, 7, 7, 512, 100, 64, 5, 800};
    private static VectorBackend vector;

    @BeforeAll
    static void backends() {
        vector = new VectorBackend(2);
    }

    @AfterAll
    static void close() {
        vector.close();
    }

    private static DeepseekV2Model load(String preset, Backend be) {
        return DeepseekV2Model.load(TestCheckpoints.preset(preset, 7), be, null);
    }

    /** Logits of every position of {@code tokens}, one forward over a fresh sequence. */
    private static float[][] fullLogits(DeepseekV2Model m, int[] tokens, AttentionMode mode) {
        LatentKvCache cache = LatentKvCache.forTokens(m.config(), tokens.length);
        CacheSequence seq = cache.newSequence();
        assertTrue(cache.reserve(seq, tokens.length));
        int[] pos = new int[tokens.length];
        CacheSequence[] seqs = new CacheSequence[tokens.length];
        int[] all = new int[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            pos[i] = i;
            seqs[i] = seq;
            all[i] = i;
        }
        float[] logits = m.forward(ForwardBatch.of(tokens, pos, seqs, all), cache, mode, new Workspace(m.backend()));
        return split(logits, tokens.length, m.config().vocabSize());
    }

    private static float[][] split(float[] flat, int rows, int vocab) {
        float[][] out = new float[rows][];
        for (int r = 0; r < rows; r++) {
            out[r] = Arrays.copyOfRange(flat, r * vocab, (r + 1) * vocab);
        }
        return out;
    }

    private static void assertLogitsClose(float[] expected, float[] actual, double tol, String what) {
        double maxDiff = 0;
        for (int i = 0; i < expected.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(expected[i] - actual[i]));
        }
        assertTrue(maxDiff <= tol, what + ": max |diff| " + maxDiff + " > " + tol);
        assertEquals(argmax(expected), argmax(actual), what + ": argmax");
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny", "tiny-v2"})
    void absorbedAttentionEqualsExpandedAttention(String preset) {
        try (DeepseekV2Model m = load(preset, vector)) {
            float[][] expanded = fullLogits(m, PROMPT, AttentionMode.EXPANDED);
            float[][] absorbed = fullLogits(m, PROMPT, AttentionMode.ABSORBED);
            for (int t = 0; t < PROMPT.length; t++) {
                assertLogitsClose(expanded[t], absorbed[t], 2e-4, preset + " position " + t);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny", "tiny-v2"})
    void incrementalDecodeEqualsFullRecomputation(String preset) {
        try (DeepseekV2Model m = load(preset, vector)) {
            int vocab = m.config().vocabSize();
            LatentKvCache cache = LatentKvCache.forTokens(m.config(), 64);
            CacheSequence seq = cache.newSequence();
            Workspace ws = new Workspace(m.backend());
            int[] tokens = Arrays.copyOf(PROMPT, PROMPT.length + 12);
            assertTrue(cache.reserve(seq, PROMPT.length));
            float[] logits = m.forward(ForwardBatch.single(seq, PROMPT, 0), cache, AttentionMode.AUTO, ws);
            float[][] stepLogits = new float[12][];
            for (int i = 0; i < 12; i++) {
                stepLogits[i] = Arrays.copyOf(logits, vocab);
                int next = argmax(stepLogits[i]);
                int pos = PROMPT.length + i;
                tokens[pos] = next;
                assertTrue(cache.reserve(seq, pos + 1));
                logits = m.forward(ForwardBatch.single(seq, new int[]{next}, pos), cache, AttentionMode.AUTO, ws);
            }
            float[][] full = fullLogits(m, Arrays.copyOf(tokens, tokens.length - 1), AttentionMode.EXPANDED);
            for (int i = 0; i < 12; i++) {
                assertLogitsClose(full[PROMPT.length - 1 + i], stepLogits[i], 2e-4, preset + " decode step " + i);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny", "tiny-v2"})
    void chunkedPrefillEqualsWholePrefill(String preset) {
        try (DeepseekV2Model m = load(preset, vector)) {
            int vocab = m.config().vocabSize();
            float[][] whole = fullLogits(m, PROMPT, AttentionMode.EXPANDED);
            LatentKvCache cache = LatentKvCache.forTokens(m.config(), PROMPT.length);
            CacheSequence seq = cache.newSequence();
            assertTrue(cache.reserve(seq, PROMPT.length));
            Workspace ws = new Workspace(m.backend());
            float[] last = null;
            for (int start = 0; start < PROMPT.length; start += 5) {
                int[] chunk = Arrays.copyOfRange(PROMPT, start, Math.min(PROMPT.length, start + 5));
                last = m.forward(ForwardBatch.single(seq, chunk, start), cache, AttentionMode.AUTO, ws);
            }
            assertLogitsClose(whole[PROMPT.length - 1], Arrays.copyOf(last, vocab), 2e-4, preset + " chunked");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny", "tiny-v2"})
    void mixedBatchEqualsEachSequenceAlone(String preset) {
        try (DeepseekV2Model m = load(preset, vector)) {
            int vocab = m.config().vocabSize();
            int[] a = {5, 6, 7, 8, 9};
            int[] b = {900, 12};
            LatentKvCache cache = LatentKvCache.forTokens(m.config(), 256);
            CacheSequence sa = cache.newSequence();
            CacheSequence sb = cache.newSequence();
            Workspace ws = new Workspace(m.backend());
            // b is already decoding: its first token is cached, its second is a decode row next to a's prefill.
            assertTrue(cache.reserve(sb, 2));
            m.forward(ForwardBatch.single(sb, new int[]{b[0]}, 0), cache, AttentionMode.AUTO, ws);
            assertTrue(cache.reserve(sa, a.length));
            int[] tokens = {a[0], a[1], a[2], a[3], a[4], b[1]};
            int[] pos = {0, 1, 2, 3, 4, 1};
            CacheSequence[] seqs = {sa, sa, sa, sa, sa, sb};
            float[] logits = m.forward(ForwardBatch.of(tokens, pos, seqs, new int[]{4, 5}), cache, AttentionMode.AUTO, ws);
            float[][] aloneA = fullLogits(m, a, AttentionMode.AUTO);
            float[][] aloneB = fullLogits(m, b, AttentionMode.AUTO);
            assertLogitsClose(aloneA[a.length - 1], Arrays.copyOfRange(logits, 0, vocab), 2e-4, "sequence a in batch");
            assertLogitsClose(aloneB[b.length - 1], Arrays.copyOfRange(logits, vocab, 2 * vocab), 2e-4, "sequence b in batch");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny", "tiny-v2"})
    void vectorBackendEqualsScalarOracle(String preset) {
        try (DeepseekV2Model fast = load(preset, vector); DeepseekV2Model oracle = load(preset, new ScalarBackend())) {
            int[] prompt = Arrays.copyOf(PROMPT, 6);
            float[][] expected = fullLogits(oracle, prompt, AttentionMode.AUTO);
            float[][] actual = fullLogits(fast, prompt, AttentionMode.AUTO);
            for (int t = 0; t < prompt.length; t++) {
                assertLogitsClose(expected[t], actual[t], 2e-4, preset + " position " + t);
            }
        }
    }
}
