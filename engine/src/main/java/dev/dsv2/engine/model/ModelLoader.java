package dev.dsv2.engine.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.quant.Int8Checkpoint;
import dev.dsv2.engine.safetensors.Checkpoint;
import dev.dsv2.engine.safetensors.CheckpointException;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;

import java.lang.foreign.Arena;
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
 * With {@link WeightFormat#INT8} the weights {@link Int8Checkpoint#quantized} names are quantized at load time into
 * memory the model owns, or mapped as stored from an int8 checkpoint.
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

    static DeepseekV2Model load(Path dir, Backend be, WeightFormat format, Consumer<String> progress,
                                Function<Checkpoint, RoutedExperts> remoteExperts, boolean sharedExperts) {
        Consumer<String> report = progress == null ? s -> { } : progress;
        ModelConfig c = ModelConfig.load(dir);
        Checkpoint ckpt = Checkpoint.open(dir, report);
        Names names = Names.open(ckpt, dir, format, be, report);
        try {
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
            long expertBytes = 3 * names.matrixBytes(c.moeIntermediateSize(), d, lmHead.dtype());
            names.prefault(report);
            return new DeepseekV2Model(c, be, names.format, embed, layers, norm, lmHead, names::close,
                    remoteExperts != null, expertBytes);
        } catch (RuntimeException e) {
            names.close();
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

    /**
     * Tensor lookups that remember which names were used, in the weight format the model runs in; owns the checkpoint
     * and the memory of weights quantized at load time ({@link #close} releases both).
     */
    static final class Names implements AutoCloseable {
        final Checkpoint ckpt;
        final Set<String> used = new HashSet<>();
        /** The format the weights run in: int8 for an int8 checkpoint whatever was asked for. */
        final WeightFormat format;
        private final boolean int8Checkpoint;
        private final Backend backend;
        private Arena arena;

        /** Lookups of the weights as stored (a bf16 checkpoint). */
        Names(Checkpoint ckpt) {
            this(ckpt, WeightFormat.BF16, false, null);
        }

        private Names(Checkpoint ckpt, WeightFormat format, boolean int8Checkpoint, Backend backend) {
            this.ckpt = ckpt;
            this.format = format;
            this.int8Checkpoint = int8Checkpoint;
            this.backend = backend;
        }

        /**
         * Lookups in the format the checkpoint in {@code dir} runs in when {@code requested} is asked for (closes
         * {@code ckpt} when its quantization config is refused).
         */
        static Names open(Checkpoint ckpt, Path dir, WeightFormat requested, Backend backend,
                          Consumer<String> report) {
            boolean int8;
            try {
                int8 = Int8Checkpoint.isInt8(dir);
            } catch (RuntimeException e) {
                ckpt.close();
                throw e;
            }
            if (int8 && requested != WeightFormat.INT8) {
                report.accept("the checkpoint is int8-quantized (" + Int8Checkpoint.CONFIG_KEY
                        + " in config.json): running int8 weights");
            }
            return new Names(ckpt, requested.effective(int8), int8, backend);
        }

        Weight weight(String name, long rows, long cols) {
            used.add(name);
            TensorView t = ckpt.tensor(name, rows, cols);
            if (t.dtype() == DType.I8) {
                if (!int8Checkpoint) {
                    throw new CheckpointException("tensor " + name + " is I8 but "
                            + ckpt.directory().resolve(ModelConfig.FILE_NAME) + " has no " + Int8Checkpoint.CONFIG_KEY
                            + " (an int8 checkpoint is written by ./dsv2 quantize)");
                }
                used.add(Int8Checkpoint.scaleName(name));
                return adopt(Int8Checkpoint.weight(ckpt, name, rows, cols), false);
            }
            Weight w = Weight.of(t);
            if (format == WeightFormat.INT8 && Int8Checkpoint.quantized(name)) {
                if (arena == null) {
                    arena = Arena.ofShared();
                }
                return adopt(w, true);
            }
            return adopt(w, false);
        }

        /** The backend's form of a mapped weight; without a backend (tests' host names), the mapping itself. */
        private Weight adopt(Weight stored, boolean quantizeInt8) {
            if (backend == null) {
                if (quantizeInt8) {
                    throw new IllegalStateException("quantizing " + stored.name() + " needs a backend");
                }
                return stored;
            }
            return backend.weight(stored, quantizeInt8, quantizeInt8 ? arena : null);
        }

        /** Whether the weights are computed from the mapping itself (not from copies quantized at load). */
        boolean servesMapping() {
            return format == WeightFormat.BF16 || int8Checkpoint;
        }

        /**
         * Reads the tensors looked up so far into memory when the backend computes from the mapping and
         * {@link Prefault} says so, so that the first requests do not fault weights in from disk: the whole model in
         * one process, the experts it owns on a shard, everything but the routed experts on a router whose experts
         * are remote.
         */
        void prefault(Consumer<String> report) {
            if (backend == null || !backend.hostMemory() || !servesMapping()) {
                return;
            }
            Prefault p = Prefault.decide(ckpt.bytesOf(used));
            if (!p.enabled()) {
                LOG.info(() -> "not prefaulting the weights: " + p.reason());
                return;
            }
            ckpt.prefault(used, report);
        }

        /** Bytes of a {@code [rows, cols]} matrix that {@link Int8Checkpoint#quantized} names, in this format. */
        long matrixBytes(long rows, long cols, DType stored) {
            return format == WeightFormat.INT8 ? rows * cols + 2 * rows * (cols / Weight.INT8_BLOCK)
                    : rows * cols * stored.bytes();
        }

        @Override
        public void close() {
            try {
                ckpt.close();
            } finally {
                if (arena != null) {
                    arena.close();
                }
            }
        }

        RmsNorm norm(String name, long dim, ModelConfig c) {
            return norm(name, dim, c.rmsNormEps());
        }

        RmsNorm norm(String name, long dim, double eps) {
            used.add(name);
            return new RmsNorm(backend.constant(ckpt.tensor(name, dim).toFloatArray()), Math.toIntExact(dim), eps);
        }
    }
}
