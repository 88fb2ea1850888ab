package dev.dsv2.engine.reference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Specifications of the oracle itself, each against numbers worked out by hand from the formulas of
 * modeling_deepseek.py rather than by running the code under test: an oracle with a bug is worse than none.
 */
class NaiveDeepseekV2Test {
    private static final double EPS = 1e-6;
    /** RMSNorm's factor for a vector whose mean square is exactly 1: 1/sqrt(1 + eps). */
    private static final double R = 1 / Math.sqrt(1 + EPS);

    @TempDir
    Path tmp;

    // ---- (1) YaRN: DeepSeek-V2-Lite's rope_scaling -------------------------------------------------------------

    private static final NaiveConfig.Yarn V2_LITE_YARN = new NaiveConfig.Yarn(40, 4096, 32, 1, 0.707, 0.707);

    @Test
    void yarnCorrectionRangeForV2LiteIsDims10To23() {
        // floor(64 ln(4096 / (32 * 2pi)) / (2 ln 10000)) = floor(10.47); ceil(64 ln(4096 / 2pi) / (2 ln 10000)) = ceil(22.51)
        assertArrayEquals(new int[] {10, 23}, NaiveRope.yarnFindCorrectionRange(32, 1, 64, 10000, 4096));
    }

    @Test
    void yarnInvFreqExtrapolatesBelowTheRangeInterpolatesAboveAndBlendsLinearlyInside() {
        double[] f = new NaiveRope(64, 10000, V2_LITE_YARN).invFreq();
        assertEquals(32, f.length);
        assertEquals(1.0, f[0], 1e-15);                                     // pure extrapolation: base^0
        assertEquals(Math.pow(10000, -20.0 / 64), f[10], 1e-15);             // low edge: still extrapolated
        assertEquals(Math.pow(10000, -46.0 / 64) / 40, f[23], 1e-15);        // high edge: interpolated
        assertEquals(Math.pow(10000, -62.0 / 64) / 40, f[31], 1e-18);        // last index: base^(-62/64) / 40
        // index 16: ramp 6/13, so 7/13 of 10000^-0.5 = 0.01 plus 6/13 of 0.01/40 = 0.0055 exactly
        assertEquals(0.0055, f[16], 1e-15);
    }

    @Test
    void v2LiteSoftmaxScaleCarriesTheSquaredMscaleAndCosSinAreUnscaled() {
        double mscale = 0.1 * 0.707 * Math.log(40) + 1;
        assertEquals(Math.pow(192, -0.5) * mscale * mscale, NaiveRope.softmaxScale(192, V2_LITE_YARN), 1e-15);
        assertEquals(0.11472138679292611, NaiveRope.softmaxScale(192, V2_LITE_YARN), 1e-15);
        assertEquals(1.0, new NaiveRope(64, 10000, V2_LITE_YARN).cosSinScale(), 1e-15); // mscale == mscale_all_dim
    }

    @Test
    void yarnWithDefaultMscalesScalesCosSinButNotTheSoftmax() {
        NaiveConfig.Yarn defaults = new NaiveConfig.Yarn(40, 4096, 32, 1, 1, 0); // constructor defaults
        assertEquals(0.1 * Math.log(40) + 1, new NaiveRope(64, 10000, defaults).cosSinScale(), 1e-15);
        assertEquals(Math.pow(192, -0.5), NaiveRope.softmaxScale(192, defaults), 1e-15); // mscale_all_dim 0 is falsy
        assertEquals(Math.pow(192, -0.5), NaiveRope.softmaxScale(192, null), 1e-15);
    }

    // ---- (2) apply_rotary_pos_emb's de-interleaving permutation -----------------------------------------------

    @Test
    void ropeDeinterleavesPairsIntoHalvesThenRotates() {
        NaiveRope rope = new NaiveRope(4, 10000, null); // inv_freq = [1, 10000^(-2/4)] = [1, 0.01]
        double[] x = {1, 2, 3, 4};
        // view(2, 2).transpose → (x0, x2, x1, x3) = (1, 3, 2, 4); pairs (j, j + 2) turn by position * inv_freq[j]
        double c1 = Math.cos(1), s1 = Math.sin(1), c2 = Math.cos(0.01), s2 = Math.sin(0.01);
        double[] expected = {1 * c1 - 2 * s1, 3 * c2 - 4 * s2, 2 * c1 + 1 * s1, 4 * c2 + 3 * s2};
        assertArrayEquals(expected, rope.rotate(x, 1), 1e-15);
        assertArrayEquals(new double[] {1, 3, 2, 4}, rope.rotate(x, 0), 0.0); // position 0: the permutation alone
    }

    // ---- (3) causality ----------------------------------------------------------------------------------------

    @Test
    void logitsAtPositionTIgnoreEveryLaterTokenAndTheForwardIsFast() {
        var config = CheckpointWriter.smallV2Config();
        NaiveDeepseekV2 m = new NaiveDeepseekV2(CheckpointWriter.writeRandom(tmp.resolve("random"), config, 7, 2));
        int[] tokens = {5, 17, 200, 3, 99, 42, 42, 0, 255, 128, 64, 1, 2, 3, 77, 150};
        double[][] logits = m.forward(tokens);
        assertEquals(16, logits.length);
        assertEquals(256, logits[0].length);

        int t = 9;
        int[] changed = tokens.clone();
        for (int i = t + 1; i < changed.length; i++) changed[i] = (changed[i] + 31) % 256;
        long start = System.nanoTime();
        double[][] other = m.forward(changed);
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(millis < 1000, "16 positions of a 3-layer hidden-128 model took " + millis + " ms");
        for (int i = 0; i <= t; i++) assertArrayEquals(logits[i], other[i], 0.0, "position " + i);
        for (int i = t + 1; i < tokens.length; i++) {
            assertFalse(Arrays.equals(logits[i], other[i]), "position " + i + " must see its changed token");
        }
    }

    // ---- (4) a checkpoint small enough to run on paper ---------------------------------------------------------

    /**
     * 1 dense layer, vocab 8, hidden 4, 1 head, kv_lora 2, nope 2, rope 2, v 2, intermediate 2, plain rope.
     * Token 3 embeds to (1, -1, 1, 1) and token 5 to (1, 1, 1, -1), both of mean square 1; q_proj and
     * kv_a_proj_with_mqa are identities, so q = (nope | pe) = n and (latent | k_pe) = n for the normed input n;
     * kv_b_proj gives k_nope = latent', value = (2 l0', l0' + l1'); o_proj maps (a0, a1) to (a0, a1, 0, a0);
     * the MLP is gate = (n0, n1), up = (n2, n3), down puts (m0, m1) in dims 0 and 1; lm_head row v is
     * e_(v mod 4) times 1 (v < 4) or -2.
     */
    private Path handCheckpoint() {
        return handWriter().write(tmp.resolve("hand"), 1);
    }

    private static CheckpointWriter handWriter() {
        double[] embed = new double[8 * 4];
        for (int i = 0; i < embed.length; i++) embed[i] = 0.25 * (i % 5) - 0.5; // rows other than 3 and 5: filler
        System.arraycopy(new double[] {1, -1, 1, 1}, 0, embed, 3 * 4, 4);
        System.arraycopy(new double[] {1, 1, 1, -1}, 0, embed, 5 * 4, 4);
        double[] lmHead = new double[8 * 4];
        for (int v = 0; v < 8; v++) lmHead[v * 4 + v % 4] = v < 4 ? 1 : -2;
        double[] identity4 = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
        return tinyConfig(new CheckpointWriter())
                .tensor("model.embed_tokens.weight", new int[] {8, 4}, embed)
                .tensor("model.layers.0.input_layernorm.weight", new int[] {4}, 1, 1, 1, 1)
                .tensor("model.layers.0.self_attn.q_proj.weight", new int[] {4, 4}, identity4)
                .tensor("model.layers.0.self_attn.kv_a_proj_with_mqa.weight", new int[] {4, 4}, identity4)
                .tensor("model.layers.0.self_attn.kv_a_layernorm.weight", new int[] {2}, 1, 1)
                .tensor("model.layers.0.self_attn.kv_b_proj.weight", new int[] {4, 2}, 1, 0, 0, 1, 2, 0, 1, 1)
                .tensor("model.layers.0.self_attn.o_proj.weight", new int[] {4, 2}, 1, 0, 0, 1, 0, 0, 1, 0)
                .tensor("model.layers.0.post_attention_layernorm.weight", new int[] {4}, 1, 1, 1, 1)
                .tensor("model.layers.0.mlp.gate_proj.weight", new int[] {2, 4}, 1, 0, 0, 0, 0, 1, 0, 0)
                .tensor("model.layers.0.mlp.up_proj.weight", new int[] {2, 4}, 0, 0, 1, 0, 0, 0, 0, 1)
                .tensor("model.layers.0.mlp.down_proj.weight", new int[] {4, 2}, 1, 0, 0, 1, 0, 0, 0, 0)
                .tensor("model.norm.weight", new int[] {4}, 1, 1, 1, 1)
                .tensor("lm_head.weight", new int[] {8, 4}, lmHead);
    }

    private static CheckpointWriter tinyConfig(CheckpointWriter w) {
        return w.config("model_type", "deepseek_v2").config("vocab_size", 8).config("hidden_size", 4)
                .config("intermediate_size", 2).config("num_hidden_layers", 1).config("num_attention_heads", 1)
                .config("q_lora_rank", null).config("kv_lora_rank", 2).config("qk_nope_head_dim", 2)
                .config("qk_rope_head_dim", 2).config("v_head_dim", 2).config("rms_norm_eps", EPS)
                .config("rope_theta", 10000.0).config("rope_scaling", null);
    }

    /** Residual h1 after attention → post-norm → MLP → residual → final norm → lm_head, all by hand. */
    private static double[] handMlpAndHead(double[] h1) {
        double[] n2 = scale(h1, 1 / Math.sqrt(meanSquare(h1) + EPS));
        double m0 = silu(n2[0]) * n2[2], m1 = silu(n2[1]) * n2[3];
        double[] h2 = {h1[0] + m0, h1[1] + m1, h1[2], h1[3]};
        double[] f = scale(h2, 1 / Math.sqrt(meanSquare(h2) + EPS));
        double[] logits = new double[8];
        for (int v = 0; v < 8; v++) logits[v] = (v < 4 ? 1 : -2) * f[v % 4];
        return logits;
    }

    @Test
    void oneTokenForwardOfTheHandCheckpointMatchesThePaperComputation() {
        double[][] logits = new NaiveDeepseekV2(handCheckpoint()).forward(new int[] {3});
        // n = R (1,-1,1,1); latent = R (1,-1) has mean square R², so kv_a_layernorm gives a (1,-1)
        double a = R / Math.sqrt(R * R + EPS);
        // one key: attention = its value (2a, a - a) = (2a, 0); o_proj → (2a, 0, 0, 2a); residual
        double[] h1 = {1 + 2 * a, -1, 1, 1 + 2 * a};
        assertArrayEquals(handMlpAndHead(h1), logits[0], 1e-12);
    }

    @Test
    void secondPositionAttendsWithRotatedQueryAndKeyAndTheScaledSoftmax() {
        double[][] logits = new NaiveDeepseekV2(handCheckpoint()).forward(new int[] {3, 5});
        double a = R / Math.sqrt(R * R + EPS);
        // position 1 (token 5): q_nope = R (1,1), q_pe = R (1,-1) turned by 1 rad = R (cos1 + sin1, sin1 - cos1)
        // key 0 (token 3): k_nope = a (1,-1), k_pe = R (1,1) at position 0; key 1: k_nope = a (1,1), k_pe like q_pe
        double scale = Math.pow(4, -0.5);
        double s0 = (R * a * (1 - 1) + R * R * 2 * Math.sin(1)) * scale;
        double s1 = (R * a * 2 + R * R * 2) * scale; // |q_pe|² = 2 R², rotation-invariant
        double p1 = 1 / (1 + Math.exp(s0 - s1));
        // values (2a, 0) and (2a, 2a) → (2a, 2a p1); o_proj → (2a, 2a p1, 0, 2a); residual onto (1, 1, 1, -1)
        double[] h1 = {1 + 2 * a, 1 + 2 * a * p1, 1, -1 + 2 * a};
        assertArrayEquals(handMlpAndHead(h1), logits[1], 1e-12);
        assertArrayEquals(new NaiveDeepseekV2(handCheckpoint()).forward(new int[] {3})[0], logits[0], 0.0);
    }

    // ---- (5) MoE routing: MoEGate's group limit and its normalise-or-scale branch ------------------------------

    /** softmax(ln p) = p for p summing to 1, so scores can be set by hand. */
    private static double[] logitsFor(double... scores) {
        return Arrays.stream(scores).map(Math::log).toArray();
    }

    // 4 groups of 2: group maxima (0.20, 0.15, 0.25, 0.18) → groups 2 and 0 survive topk_group = 2
    private static final double[] SCORES = {0.05, 0.20, 0.10, 0.15, 0.25, 0.02, 0.18, 0.05};

    @Test
    void groupLimitedGreedyPicksOnlyFromTheBestGroupsAndScalesWithoutNormalising() {
        var r = new NaiveMoeGate(3, "group_limited_greedy", 4, 2, false, 16).route(logitsFor(SCORES));
        assertArrayEquals(new int[] {4, 1, 0}, r.experts()); // not 6 (0.18): its group lost
        assertArrayEquals(new double[] {0.25 * 16, 0.20 * 16, 0.05 * 16}, r.weights(), 1e-12);
    }

    @Test
    void normTopkProbNormalisesAndThenIgnoresRoutedScalingFactor() {
        var r = new NaiveMoeGate(3, "group_limited_greedy", 4, 2, true, 16).route(logitsFor(SCORES));
        assertArrayEquals(new int[] {4, 1, 0}, r.experts());
        assertArrayEquals(new double[] {0.5, 0.4, 0.1}, r.weights(), 1e-12); // (0.25, 0.20, 0.05) / 0.5, no × 16
    }

    @Test
    void greedyTakesTheGlobalTopK() {
        var r = new NaiveMoeGate(3, "greedy", null, null, false, 1).route(logitsFor(SCORES));
        assertArrayEquals(new int[] {4, 1, 6}, r.experts());
        assertArrayEquals(new double[] {0.25, 0.20, 0.18}, r.weights(), 1e-12);
    }

    @Test
    void topOneNeverNormalisesEvenWithNormTopkProbButScales() {
        var r = new NaiveMoeGate(1, "greedy", null, null, true, 2).route(logitsFor(SCORES));
        assertArrayEquals(new int[] {4}, r.experts());
        assertArrayEquals(new double[] {0.5}, r.weights(), 1e-12); // 0.25 × 2, not 0.25 / 0.25
    }

    @Test
    void moeLayerSumsWeightedRoutedExpertsAndAddsTheSharedExpert() {
        // 4 experts in 2 groups; for x = e0 the gate logits are (1, -1, 1.5, 0.5) (exact in F32):
        // greedy would take {2, 0}, the group limit keeps group {2, 3} (max 1.5 beats max 1)
        double[] gateLogits = {1, -1, 1.5, 0.5};
        double z = Arrays.stream(gateLogits).map(Math::exp).sum();
        CheckpointWriter w = tinyConfig(new CheckpointWriter())
                .config("n_routed_experts", 4).config("n_shared_experts", 1).config("num_experts_per_tok", 2)
                .config("moe_intermediate_size", 1).config("topk_method", "group_limited_greedy")
                .config("n_group", 2).config("topk_group", 1).config("norm_topk_prob", false)
                .config("routed_scaling_factor", 2.0).config("first_k_dense_replace", 0);
        fillerNonFeedForward(w);
        double[] gate = new double[4 * 4];
        for (int e = 0; e < 4; e++) gate[e * 4] = gateLogits[e];
        w.tensor("model.layers.0.mlp.gate.weight", new int[] {4, 4}, gate);
        for (int e = 0; e < 4; e++) { // expert e: silu(x0) * x0 along e_e
            double[] down = new double[4];
            down[e] = 1;
            expert(w, "model.layers.0.mlp.experts." + e + ".", down);
        }
        expert(w, "model.layers.0.mlp.shared_experts.", new double[] {0.5, 0.5, 0.5, 0.5});
        NaiveDeepseekV2 m = new NaiveDeepseekV2(w.write(tmp.resolve("moe"), 2));

        double[] y = m.feedForward(0, new double[] {1, 0, 0, 0});
        double silu1 = silu(1), w2 = 2 * Math.exp(1.5) / z, w3 = 2 * Math.exp(0.5) / z;
        // routed: routed_scaling_factor 2 × softmax score on experts 2 and 3 (no normalising); shared: 0.5 everywhere
        assertArrayEquals(new double[] {0.5 * silu1, 0.5 * silu1, (w2 + 0.5) * silu1, (w3 + 0.5) * silu1}, y, 1e-12);
        assertEquals(2, m.forward(new int[] {1, 2}).length); // and the whole model runs on it
    }

    private static void expert(CheckpointWriter w, String prefix, double[] down) {
        w.tensor(prefix + "gate_proj.weight", new int[] {1, 4}, 1, 0, 0, 0)
                .tensor(prefix + "up_proj.weight", new int[] {1, 4}, 1, 0, 0, 0)
                .tensor(prefix + "down_proj.weight", new int[] {4, 1}, down);
    }

    private static void fillerNonFeedForward(CheckpointWriter w) {
        double[] sixteen = new double[16], thirtyTwo = new double[32];
        Arrays.setAll(sixteen, i -> 0.1 * (i % 3) - 0.1);
        Arrays.setAll(thirtyTwo, i -> 0.1 * (i % 7) - 0.3);
        w.tensor("model.embed_tokens.weight", new int[] {8, 4}, thirtyTwo)
                .tensor("model.layers.0.input_layernorm.weight", new int[] {4}, 1, 1, 1, 1)
                .tensor("model.layers.0.self_attn.q_proj.weight", new int[] {4, 4}, sixteen)
                .tensor("model.layers.0.self_attn.kv_a_proj_with_mqa.weight", new int[] {4, 4}, sixteen)
                .tensor("model.layers.0.self_attn.kv_a_layernorm.weight", new int[] {2}, 1, 1)
                .tensor("model.layers.0.self_attn.kv_b_proj.weight", new int[] {4, 2}, 1, 0, 0, 1, 2, 0, 1, 1)
                .tensor("model.layers.0.self_attn.o_proj.weight", new int[] {4, 2}, 1, 0, 0, 1, 0, 0, 1, 0)
                .tensor("model.layers.0.post_attention_layernorm.weight", new int[] {4}, 1, 1, 1, 1)
                .tensor("model.norm.weight", new int[] {4}, 1, 1, 1, 1)
                .tensor("lm_head.weight", new int[] {8, 4}, thirtyTwo);
    }

    @Test
    void denseLayersAreTheFirstKAndThoseOffTheMoeFrequency() {
        Map<String, Object> config = CheckpointWriter.smallV2Config();
        config.put("num_hidden_layers", 4);
        config.put("first_k_dense_replace", 1);
        config.put("moe_layer_freq", 2);
        NaiveConfig c = NaiveConfig.read(CheckpointWriter.writeRandom(tmp.resolve("freq"), config, 1, 1));
        assertEquals(List.of(false, false, true, false),
                List.of(c.isMoeLayer(0), c.isMoeLayer(1), c.isMoeLayer(2), c.isMoeLayer(3)));
    }

    // ---- loading is strict ------------------------------------------------------------------------------------

    @Test
    void aTensorTheModelHasNoPlaceForIsRejectedByName() {
        CheckpointWriter w = handWriter().tensor("model.layers.0.mlp.shared_expert.gate_proj.weight", new int[] {1}, 0.0);
        var e = assertThrows(IllegalArgumentException.class, () -> new NaiveDeepseekV2(w.write(tmp.resolve("extra"), 1)));
        assertTrue(e.getMessage().endsWith("tensors the reference model has no place for: "
                + "[model.layers.0.mlp.shared_expert.gate_proj.weight]"), e.getMessage());
    }

    @Test
    void aMisshapenTensorIsRejectedWithBothShapes() {
        CheckpointWriter w = handWriter().tensor("model.layers.0.self_attn.kv_b_proj.weight", new int[] {2, 4}, new double[8]);
        var e = assertThrows(IllegalArgumentException.class, () -> new NaiveDeepseekV2(w.write(tmp.resolve("shape"), 1)));
        assertTrue(e.getMessage().endsWith("tensor 'model.layers.0.self_attn.kv_b_proj.weight' has shape [2, 4], expected [4, 2]"),
                e.getMessage());
    }

    @Test
    void tokenIdsOutsideTheVocabularyAreRejected() {
        NaiveDeepseekV2 m = new NaiveDeepseekV2(handCheckpoint());
        var e = assertThrows(IllegalArgumentException.class, () -> m.forward(new int[] {1, 8}));
        assertEquals("token id 8 at position 1 is outside [0, 8)", e.getMessage());
    }

    // ---- NaiveGreedy --------------------------------------------------------------------------------------------

    @Test
    void greedyExtendsTheSequenceWithTheArgmaxOfTheLastPositionAndReportsItsLogSoftmax() {
        var config = CheckpointWriter.smallV2Config();
        NaiveDeepseekV2 m = new NaiveDeepseekV2(CheckpointWriter.writeRandom(tmp.resolve("g"), config, 11, 1));
        int[] prompt = {4, 8, 15};
        List<NaiveGreedy.Step> steps = NaiveGreedy.greedy(m, prompt, 3);
        assertEquals(3, steps.size());
        int[] sequence = Arrays.copyOf(prompt, 6);
        for (int s = 0; s < 3; s++) {
            double[] last = m.forward(Arrays.copyOf(sequence, 3 + s))[2 + s];
            int argmax = 0;
            for (int v = 0; v < last.length; v++) if (last[v] > last[argmax]) argmax = v;
            NaiveGreedy.Step step = steps.get(s);
            assertEquals(argmax, step.token(), "step " + s);
            assertEquals(0.0, Arrays.stream(step.logprobs()).max().orElseThrow() - step.logprobs()[argmax], 0.0);
            assertEquals(1.0, Arrays.stream(step.logprobs()).map(Math::exp).sum(), 1e-12);
            assertEquals(last[0] - last[argmax], step.logprobs()[0] - step.logprobs()[argmax], 1e-12);
            sequence[3 + s] = step.token();
        }
    }

    @Test
    void greedyBreaksTiesTowardsTheLowestIdAndUniformLogitsGiveMinusLnV() {
        CheckpointWriter w = handWriter().tensor("lm_head.weight", new int[] {8, 4}, new double[32]); // all logits 0
        List<NaiveGreedy.Step> steps = NaiveGreedy.greedy(new NaiveDeepseekV2(w.write(tmp.resolve("ties"), 1)), new int[] {3}, 2);
        assertEquals(List.of(0, 0), steps.stream().map(NaiveGreedy.Step::token).toList());
        for (double lp : steps.get(1).logprobs()) assertEquals(-Math.log(8), lp, 1e-15);
    }

    // ---- helpers ---------------------------------------------------------------------------------------------

    private static double meanSquare(double[] x) {
        return Arrays.stream(x).map(v -> v * v).sum() / x.length;
    }

    private static double[] scale(double[] x, double s) {
        return Arrays.stream(x).map(v -> v * s).toArray();
    }

    private static double silu(double v) {
        return v / (1 + Math.exp(-v));
    }
}
