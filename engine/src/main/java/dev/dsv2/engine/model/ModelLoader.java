package dev.dsv2.engine.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.safetensors.Checkpoint;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.logging.Logger;

/**
 * Builds a {@link DeepseekV2Model} from an HF checkpoint: an explicit map from HF tensor names to model parts,
 * every tensor checked against the shape config.json implies. Weights are sliced from the mapped files (no copy);
 * only the norm vectors are widened to float arrays. A checkpoint tensor that the model does not use is reported.
 */
final class ModelLoader {
    private static final Logger LOG = Logger.getLogger(ModelLoader.class.getName());
    /**
     * The reference builds {@code q_a_layernorm} and {@code kv_a_layernorm} as {@code DeepseekV2RMSNorm(rank)} with
     * the default eps 1e-6, not {@code rms_norm_eps}; the decoder-layer and final norms use {@code rms_norm_eps}.
     */
    static final double LATENT_NORM_EPS = 1e-6;

    private ModelLoader() {
    }

    static DeepseekV2Model load(Path dir, Backend be, Consumer<String> progress,
                                Function<Checkpoint, RoutedExperts> remoteExperts, boolean sharedExperts) {
        Consumer<String> report = progress == null ? s -> { } : progress;
        ModelConfig c = ModelConfig.load(dir);
        Checkpoint ckpt = Checkpoint.open(dir, report);
        try {
            Names names = new Names(ckpt);
            int d = c.hiddenSize();
            Weight embed = names.weight("model.embed_tokens.weight", c.vocabSize(), d);
            RoutedExperts routed = remoteExperts != null ? remoteExperts.apply(ckpt)
                    : new LocalExperts(be, localExperts(c, names), d);
            DecoderLayer[] layers = new DecoderLayer[c.numHiddenLayers()];
            for (int i = 0; i < layers.length; i++) {
                String p = "model.layers." + i + ".";
                FeedForward mlp;
                if (c.isMoeLayer(i)) {
                    SwiGluMlp shared = c.nSharedExperts() > 0 && sharedExperts
                            ? mlp(names, p + "mlp.shared_experts.", c.sharedIntermediateSize(), d) : null;
                    MoeGate gate = new MoeGate(c, names.weight(p + "mlp.gate.weight", c.nRoutedExperts(), d));
                    mlp = new MoeBlock(i, gate, shared, routed, d);
                } else {
                    mlp = mlp(names, p + "mlp.", c.intermediateSize(), d);
                }
                layers[i] = new DecoderLayer(i, names.norm(p + "input_layernorm.weight", d, c),
                        attention(c, names, p + "self_attn."),
                        names.norm(p + "post_attention_layernorm.weight", d, c), mlp);
                report.accept("layer " + (i + 1) + "/" + layers.length + " mapped");
            }
            RmsNorm norm = names.norm("model.norm.weight", d, c);
            Weight lmHead = c.tieWordEmbeddings() ? embed : names.weight("lm_head.weight", c.vocabSize(), d);
            if (remoteExperts == null) {
                Set<String> unused = new HashSet<>(ckpt.names());
                unused.removeAll(names.used);
                if (!unused.isEmpty()) {
                    LOG.warning(() -> dir + ": " + unused.size() + " checkpoint tensors are not used by the model, e.g. "
                            + unused.iterator().next());
                }
            }
            return new DeepseekV2Model(c, be, embed, layers, norm, lmHead, ckpt, remoteExperts != null);
        } catch (RuntimeException e) {
            ckpt.close();
            throw e;
        }
    }

    /** Every routed expert of every MoE layer, {@code [layer][expert]} (null rows for dense layers). */
    static SwiGluMlp[][] localExperts(ModelConfig c, Names names) {
        return localExperts(c, names, ExpertPlacement.all(c.nRoutedExperts()));
    }

    /**
     * The routed experts {@code placement} owns in every MoE layer, {@code [layer][expert]}: null rows for dense
     * layers, null entries for experts owned elsewhere (never mapped).
     */
    static SwiGluMlp[][] localExperts(ModelConfig c, Names names, ExpertPlacement placement) {
        SwiGluMlp[][] experts = new SwiGluMlp[c.numHiddenLayers()][];
        for (int i = 0; i < experts.length; i++) {
            if (c.isMoeLayer(i)) {
                experts[i] = new SwiGluMlp[c.nRoutedExperts()];
                for (int e : placement.owned(i)) {
                    experts[i][e] = mlp(names, "model.layers." + i + ".mlp.experts." + e + ".",
                            c.moeIntermediateSize(), c.hiddenSize());
                }
            }
        }
        return experts;
    }

    private static MlaAttention attention(ModelConfig c, Names n, String p) {
        int d = c.hiddenSize();
        int h = c.numAttentionHeads();
        int dq = c.qHeadDim();
        Weight qProj = null;
        Weight qA = null;
        RmsNorm qANorm = null;
        Weight qB = null;
        if (c.hasQLora()) {
            qA = n.weight(p + "q_a_proj.weight", c.qLoraRank(), d);
            qANorm = n.norm(p + "q_a_layernorm.weight", c.qLoraRank(), LATENT_NORM_EPS);
            qB = n.weight(p + "q_b_proj.weight", (long) h * dq, c.qLoraRank());
        } else {
            qProj = n.weight(p + "q_proj.weight", (long) h * dq, d);
        }
        return new MlaAttention(c, qProj, qA, qANorm, qB,
                n.weight(p + "kv_a_proj_with_mqa.weight", c.kvLoraRank() + c.qkRopeHeadDim(), d),
                n.norm(p + "kv_a_layernorm.weight", c.kvLoraRank(), LATENT_NORM_EPS),
                n.weight(p + "kv_b_proj.weight", (long) h * (c.qkNopeHeadDim() + c.vHeadDim()), c.kvLoraRank()),
                n.weight(p + "o_proj.weight", d, (long) h * c.vHeadDim()));
    }

    static SwiGluMlp mlp(Names n, String p, int inter, int d) {
        return new SwiGluMlp(n.weight(p + "gate_proj.weight", inter, d), n.weight(p + "up_proj.weight", inter, d),
                n.weight(p + "down_proj.weight", d, inter));
    }

    /** Tensor lookups that remember which names were used. */
    static final class Names {
        final Checkpoint ckpt;
        final Set<String> used = new HashSet<>();

        Names(Checkpoint ckpt) {
            this.ckpt = ckpt;
        }

        Weight weight(String name, long rows, long cols) {
            used.add(name);
            return Weight.of(ckpt.tensor(name, rows, cols));
        }

        RmsNorm norm(String name, long dim, ModelConfig c) {
            return norm(name, dim, c.rmsNormEps());
        }

        RmsNorm norm(String name, long dim, double eps) {
            used.add(name);
            return new RmsNorm(ckpt.tensor(name, dim).toFloatArray(), eps);
        }
    }
}
