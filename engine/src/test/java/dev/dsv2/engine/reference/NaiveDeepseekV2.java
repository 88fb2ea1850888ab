package dev.dsv2.engine.reference;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * A deliberately naive float64 forward of DeepSeek-V2 (V2, V2-Lite and their chat variants), written from the
 * published reference {@code modeling_deepseek.py} and sharing no code with the engine: it is the oracle the
 * engine is checked against. Every call recomputes full causal attention over all positions from scratch — no
 * cache, no weight absorption, plain loops.
 *
 * <p>Glossary (HF config names): T positions, H hidden_size, n heads, dn qk_nope_head_dim, dr qk_rope_head_dim,
 * dq = dn + dr, dv v_head_dim, c kv_lora_rank, rq q_lora_rank, E n_routed_experts, V vocab_size.
 * Weights are row-major {@code [out, in]} like {@code nn.Linear.weight}.
 *
 * <p>What mirrors what:
 * <ul>
 *   <li>{@code DeepseekV2Model.forward}: embed_tokens → layers → norm; {@code DeepseekV2ForCausalLM}: lm_head
 *       (embed_tokens when tie_word_embeddings).</li>
 *   <li>{@code DeepseekV2DecoderLayer.forward}: h += attn(input_layernorm(h)); h += mlp(post_attention_layernorm(h)).</li>
 *   <li>{@code DeepseekV2RMSNorm}: x / sqrt(mean(x²) + eps) * w; q_a_layernorm and kv_a_layernorm are built without
 *       an eps argument, so they use the class default 1e-6, not rms_norm_eps.</li>
 *   <li>{@code DeepseekV2Attention.forward} (eager): q = q_proj(x) or q_b_proj(q_a_layernorm(q_a_proj(x))), per head
 *       [dn nope | dr pe]; kv_a_proj_with_mqa(x) = [c latent | dr k_pe], k_pe shared by all heads;
 *       kv_b_proj(kv_a_layernorm(latent)) per head = [dn k_nope | dv value]; {@link NaiveRope} on q_pe and k_pe
 *       at positions 0..T-1; scores = q·k * {@link NaiveRope#softmaxScale}; causal mask; softmax; Σ p·value;
 *       o_proj.</li>
 *   <li>{@code DeepseekV2MLP}: down(silu(gate(x)) * up(x)). {@code DeepseekV2MoE}: Σ_k w_k expert_k(x) with
 *       {@link NaiveMoeGate} + shared_experts(x) (one MLP of width moe_intermediate_size * n_shared_experts) when
 *       n_shared_experts is set. A layer is MoE iff {@link NaiveConfig#isMoeLayer}.</li>
 * </ul>
 * The constructor loads every tensor eagerly as double[] and fails on a missing, misshapen or unexpected tensor.
 */
public final class NaiveDeepseekV2 {
    private static final double LATENT_NORM_EPS = 1e-6;

    private record Mlp(int width, double[] gate, double[] up, double[] down) {} // [w,H] [w,H] [H,w]

    private record Moe(double[] gate, Mlp[] experts, Mlp shared) {} // gate [E,H]; shared null without shared experts

    /**
     * One decoder layer. Norms [H]; qProj [n*dq, H] (only without q LoRA); qAProj [rq, H], qANorm [rq], qBProj
     * [n*dq, rq] (only with q LoRA); kvAProj [c+dr, H]; kvANorm [c]; kvBProj [n*(dn+dv), c]; oProj [H, n*dv];
     * the biases qABias [rq], kvABias [c+dr], oBias [H] exist only with attention_bias (null otherwise), as in the
     * reference's nn.Linear(..., bias=config.attention_bias). Exactly one of dense and moe is set.
     */
    private record Layer(double[] inputNorm, double[] postAttentionNorm,
                         double[] qProj, double[] qAProj, double[] qABias, double[] qANorm, double[] qBProj,
                         double[] kvAProj, double[] kvABias, double[] kvANorm, double[] kvBProj,
                         double[] oProj, double[] oBias, Mlp dense, Moe moe) {}

    private final NaiveConfig config;
    private final double[] embed;    // [V, H]
    private final Layer[] layers;
    private final double[] norm;     // [H]
    private final double[] lmHead;   // [V, H]
    private final NaiveRope rope;
    private final double softmaxScale;
    private final NaiveMoeGate gate;

    public NaiveDeepseekV2(Path checkpointDir) {
        this.config = NaiveConfig.read(checkpointDir);
        NaiveConfig c = config;
        NaiveSafetensors st = new NaiveSafetensors(checkpointDir);
        int h = c.hiddenSize(), n = c.numAttentionHeads(), c0 = c.kvLoraRank(), dr = c.qkRopeHeadDim();
        embed = st.get("model.embed_tokens.weight", c.vocabSize(), h);
        layers = new Layer[c.numHiddenLayers()];
        for (int i = 0; i < layers.length; i++) {
            String p = "model.layers." + i + ".";
            String a = p + "self_attn.";
            Integer rq = c.qLoraRank();
            boolean bias = c.attentionBias();
            layers[i] = new Layer(st.get(p + "input_layernorm.weight", h), st.get(p + "post_attention_layernorm.weight", h),
                    rq == null ? st.get(a + "q_proj.weight", n * c.qHeadDim(), h) : null,
                    rq == null ? null : st.get(a + "q_a_proj.weight", rq, h),
                    rq != null && bias ? st.get(a + "q_a_proj.bias", rq) : null,
                    rq == null ? null : st.get(a + "q_a_layernorm.weight", rq),
                    rq == null ? null : st.get(a + "q_b_proj.weight", n * c.qHeadDim(), rq),
                    st.get(a + "kv_a_proj_with_mqa.weight", c0 + dr, h),
                    bias ? st.get(a + "kv_a_proj_with_mqa.bias", c0 + dr) : null,
                    st.get(a + "kv_a_layernorm.weight", c0),
                    st.get(a + "kv_b_proj.weight", n * (c.qkNopeHeadDim() + c.vHeadDim()), c0),
                    st.get(a + "o_proj.weight", h, n * c.vHeadDim()),
                    bias ? st.get(a + "o_proj.bias", h) : null,
                    c.isMoeLayer(i) ? null : mlp(st, p + "mlp.", c.intermediateSize(), h),
                    c.isMoeLayer(i) ? moe(st, p + "mlp.", c) : null);
        }
        norm = st.get("model.norm.weight", h);
        lmHead = c.tieWordEmbeddings() ? embed : st.get("lm_head.weight", c.vocabSize(), h);
        if (!st.unused().isEmpty()) {
            throw new IllegalArgumentException(checkpointDir + ": tensors the reference model has no place for: " + st.unused());
        }
        rope = new NaiveRope(dr, c.ropeTheta(), c.ropeScaling());
        softmaxScale = NaiveRope.softmaxScale(c.qHeadDim(), c.ropeScaling());
        gate = c.nRoutedExperts() == null ? null : NaiveMoeGate.of(c);
    }

    private static Mlp mlp(NaiveSafetensors st, String prefix, int width, int h) {
        return new Mlp(width, st.get(prefix + "gate_proj.weight", width, h), st.get(prefix + "up_proj.weight", width, h),
                st.get(prefix + "down_proj.weight", h, width));
    }

    private static Moe moe(NaiveSafetensors st, String prefix, NaiveConfig c) {
        int h = c.hiddenSize();
        Mlp[] experts = new Mlp[c.nRoutedExperts()];
        for (int e = 0; e < experts.length; e++) experts[e] = mlp(st, prefix + "experts." + e + ".", c.moeIntermediateSize(), h);
        Mlp shared = c.nSharedExperts() == null ? null
                : mlp(st, prefix + "shared_experts.", c.moeIntermediateSize() * c.nSharedExperts(), h);
        return new Moe(st.get(prefix + "gate.weight", c.nRoutedExperts(), h), experts, shared);
    }

    public NaiveConfig config() {
        return config;
    }

    /** Logits [T][V] for every position of {@code tokenIds}, each seeing only the tokens up to itself. */
    public double[][] forward(int[] tokenIds) {
        int t = tokenIds.length, h = config.hiddenSize();
        if (t == 0) throw new IllegalArgumentException("forward needs at least one token");
        double[][] x = new double[t][];
        for (int i = 0; i < t; i++) {
            int id = tokenIds[i];
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException(
                        "token id " + id + " at position " + i + " is outside [0, " + config.vocabSize() + ")");
            }
            x[i] = Arrays.copyOfRange(embed, id * h, (id + 1) * h);
        }
        for (Layer layer : layers) {
            double[][] normed = new double[t][];
            for (int i = 0; i < t; i++) normed[i] = rmsNorm(x[i], layer.inputNorm, config.rmsNormEps());
            double[][] attended = attention(layer, normed);
            for (int i = 0; i < t; i++) {
                add(x[i], attended[i]);
                add(x[i], feedForward(layer, rmsNorm(x[i], layer.postAttentionNorm, config.rmsNormEps())));
            }
        }
        double[][] logits = new double[t][];
        for (int i = 0; i < t; i++) logits[i] = matVec(lmHead, config.vocabSize(), h, rmsNorm(x[i], norm, config.rmsNormEps()));
        return logits;
    }

    /** DeepseekV2Attention.forward over all T positions at once: [T][H] normalised input → [T][H] output. */
    private double[][] attention(Layer l, double[][] x) {
        NaiveConfig c = config;
        int t = x.length, n = c.numAttentionHeads(), dq = c.qHeadDim(), dn = c.qkNopeHeadDim(), dr = c.qkRopeHeadDim();
        int dv = c.vHeadDim(), kvLora = c.kvLoraRank(), h = c.hiddenSize();
        double[][][] qNope = new double[t][n][], qPe = new double[t][n][]; // [T][n][dn], [T][n][dr]
        double[][][] kNope = new double[t][n][], value = new double[t][n][]; // [T][n][dn], [T][n][dv]
        double[][] kPe = new double[t][]; // [T][dr], one per position for all heads
        for (int i = 0; i < t; i++) {
            double[] q = c.qLoraRank() == null ? matVec(l.qProj, n * dq, h, x[i])
                    : matVec(l.qBProj, n * dq, c.qLoraRank(), rmsNorm(
                            addBias(matVec(l.qAProj, c.qLoraRank(), h, x[i]), l.qABias), l.qANorm, LATENT_NORM_EPS));
            double[] kvA = addBias(matVec(l.kvAProj, kvLora + dr, h, x[i]), l.kvABias);
            double[] latent = Arrays.copyOfRange(kvA, 0, kvLora);
            kPe[i] = rope.rotate(Arrays.copyOfRange(kvA, kvLora, kvLora + dr), i);
            double[] kv = matVec(l.kvBProj, n * (dn + dv), kvLora, rmsNorm(latent, l.kvANorm, LATENT_NORM_EPS));
            for (int head = 0; head < n; head++) {
                qNope[i][head] = Arrays.copyOfRange(q, head * dq, head * dq + dn);
                qPe[i][head] = rope.rotate(Arrays.copyOfRange(q, head * dq + dn, (head + 1) * dq), i);
                kNope[i][head] = Arrays.copyOfRange(kv, head * (dn + dv), head * (dn + dv) + dn);
                value[i][head] = Arrays.copyOfRange(kv, head * (dn + dv) + dn, (head + 1) * (dn + dv));
            }
        }
        double[][] out = new double[t][];
        for (int i = 0; i < t; i++) {
            double[] heads = new double[n * dv];
            for (int head = 0; head < n; head++) {
                double[] scores = new double[i + 1]; // causal: keys 0..i only
                for (int j = 0; j <= i; j++) {
                    scores[j] = (dot(qNope[i][head], kNope[j][head]) + dot(qPe[i][head], kPe[j])) * softmaxScale;
                }
                double[] p = NaiveMoeGate.softmax(scores);
                for (int j = 0; j <= i; j++) {
                    for (int d = 0; d < dv; d++) heads[head * dv + d] += p[j] * value[j][head][d];
                }
            }
            out[i] = addBias(matVec(l.oProj, h, n * dv, heads), l.oBias);
        }
        return out;
    }

    /** The layer's MLP (dense) or MoE block on one post_attention_layernorm output [H]. */
    private double[] feedForward(Layer l, double[] x) {
        if (l.dense != null) return mlp(l.dense, x);
        NaiveMoeGate.Routing r = gate.route(matVec(l.moe.gate, config.nRoutedExperts(), config.hiddenSize(), x));
        double[] y = new double[x.length];
        for (int k = 0; k < r.experts().length; k++) {
            double[] expertOut = mlp(l.moe.experts[r.experts()[k]], x);
            for (int d = 0; d < y.length; d++) y[d] += r.weights()[k] * expertOut[d];
        }
        if (l.moe.shared != null) add(y, mlp(l.moe.shared, x));
        return y;
    }

    /** Test hook: the feed-forward block of {@code layer} applied to an already normalised hidden state. */
    double[] feedForward(int layer, double[] x) {
        return feedForward(layers[layer], x);
    }

    private double[] mlp(Mlp m, double[] x) {
        int h = config.hiddenSize();
        double[] g = matVec(m.gate, m.width, h, x), u = matVec(m.up, m.width, h, x);
        double[] act = new double[m.width];
        for (int i = 0; i < act.length; i++) act[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
        return matVec(m.down, h, m.width, act);
    }

    static double[] rmsNorm(double[] x, double[] w, double eps) {
        double meanSquare = 0;
        for (double v : x) meanSquare += v * v;
        meanSquare /= x.length;
        double inv = 1.0 / Math.sqrt(meanSquare + eps);
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[i] * inv * w[i];
        return y;
    }

    static double[] matVec(double[] w, int rows, int cols, double[] x) {
        if (x.length != cols || w.length != rows * cols) {
            throw new IllegalArgumentException(
                    "matVec [" + rows + "," + cols + "] weight of " + w.length + " values by vector of " + x.length);
        }
        double[] y = new double[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int k = 0; k < cols; k++) s += w[r * cols + k] * x[k];
            y[r] = s;
        }
        return y;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    private static void add(double[] acc, double[] v) {
        for (int i = 0; i < acc.length; i++) acc[i] += v[i];
    }

    private static double[] addBias(double[] v, double[] bias) {
        if (bias != null) add(v, bias);
        return v;
    }
}
