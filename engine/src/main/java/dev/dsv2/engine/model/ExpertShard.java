package dev.dsv2.engine.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.safetensors.Checkpoint;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Consumer;


/**
 * One expert shard's weights: the routed experts its {@link ExpertPlacement} owns in every MoE layer, and
 * optionally the shared experts, and nothing else (no attention, embeddings or gates). The checkpoint files are
 * memory-mapped, so only the pages of the owned tensors are ever read: resident memory is proportional to the
 * shard's share, {@link #weightBytes()}.
 *
 * <pre>
 *   routed expert (layer l, expert e owned):  gate, up [moe_inter, D], down [D, moe_inter]
 *   shared experts (layer l, when held):      gate, up [moe_inter * n_shared, D], down [D, moe_inter * n_shared]
 * </pre>
 *
 * <p>{@link #compute} is what one expert-service call runs: the rows routed to this shard, each row once with all its
 * {@code top_k} (expert, weight) pairs, where pairs owned by other shards are marked {@code -1} and skipped; rows
 * are grouped by expert so each owned expert's weights are streamed once per call. It is the embedded model's path
 * ({@link LocalExperts#computeWithShared}: one grouped {@code Backend.swiGlu} call, the shared experts one more
 * group, no allocation once warm), so a shard holding every expert gives the embedded MoE layer's output bit for bit.
 */
public final class ExpertShard implements AutoCloseable {
    /** The expert id that marks a pair owned by another shard. */
    public static final int SKIP = RoutedExperts.SKIP;

    private final ModelConfig config;
    private final ExpertPlacement placement;
    private final LocalExperts routed; // the owned experts, through the embedded model's grouped kernel path
    private final SwiGluMlp[] shared; // [layer], null where dense or not held
    private final long weightBytes;
    private final ModelLoader.Names weightsOwner; // the checkpoint and any weights quantized at load time

    private ExpertShard(ModelConfig config, ExpertPlacement placement, Backend backend, SwiGluMlp[][] experts,
                        SwiGluMlp[] shared, long weightBytes, ModelLoader.Names weightsOwner) {
        this.config = config;
        this.placement = placement;
        this.routed = new LocalExperts(backend, experts, config.hiddenSize(), placement.toString());
        this.shared = shared;
        this.weightBytes = weightBytes;
        this.weightsOwner = weightsOwner;
    }

    /**
     * Maps the owned experts of every MoE layer of the checkpoint in {@code dir} (and the shared experts when
     * {@code sharedExperts}), checking each tensor's shape against config.json.
     *
     * @throws IllegalArgumentException when the model has no routed experts or the placement does not fit it
     */
    public static ExpertShard load(Path dir, Backend backend, ExpertPlacement placement, boolean sharedExperts,
                                   Consumer<String> progress) {
        return load(dir, backend, placement, sharedExperts, WeightFormat.BF16, progress);
    }

    /** {@link #load(Path, Backend, ExpertPlacement, boolean, Consumer)} with the expert weights in {@code format}. */
    public static ExpertShard load(Path dir, Backend backend, ExpertPlacement placement, boolean sharedExperts,
                                   WeightFormat format, Consumer<String> progress) {
        Consumer<String> report = progress == null ? s -> { } : progress;
        ModelConfig c = ModelConfig.load(dir);
        if (c.nRoutedExperts() != placement.numExperts()) {
            throw new IllegalArgumentException(dir + ": config.json has n_routed_experts " + c.nRoutedExperts()
                    + " but the placement is for " + placement.numExperts() + " experts");
        }
        if (!placement.contiguous() && placement.perLayer().length != c.numHiddenLayers()) {
            throw new IllegalArgumentException(dir + ": the placement covers " + placement.perLayer().length
                    + " layers, config.json has " + c.numHiddenLayers());
        }
        Checkpoint ckpt = Checkpoint.open(dir, report);
        ModelLoader.Names names = ModelLoader.Names.open(ckpt, dir, format, backend, report);
        try {
            SwiGluMlp[][] experts = ModelLoader.localExperts(c, names, placement);
            long bytes = 0;
            SwiGluMlp[] shared = new SwiGluMlp[c.numHiddenLayers()];
            for (int layer = 0; layer < c.numHiddenLayers(); layer++) {
                if (!c.isMoeLayer(layer)) {
                    continue;
                }
                for (SwiGluMlp e : experts[layer]) {
                    bytes += e == null ? 0 : e.byteSize();
                }
                if (sharedExperts && c.nSharedExperts() > 0) {
                    shared[layer] = ModelLoader.mlp(names, "model.layers." + layer + ".mlp.shared_experts.",
                            c.sharedIntermediateSize(), c.hiddenSize());
                    bytes += shared[layer].byteSize();
                }
                report.accept("layer " + layer + ": " + placement.describe(layer)
                        + (shared[layer] != null ? " + shared" : "") + " mapped");
            }
            names.prefault(report);
            return new ExpertShard(c, placement, backend, experts, shared, bytes, names);
        } catch (RuntimeException e) {
            names.close();
            throw e;
        }
    }

    /**
     * {@code out[r] = Σ_k weights[r*topK+k] · expert_{layer, ids[r*topK+k]}(x[r])} over the pairs with
     * {@code ids != }{@link #SKIP}, plus {@code shared_layer(x[r])} when {@code includeShared}; {@code x} and
     * {@code out} are {@code [rows, hidden]}, {@code out} is overwritten. Safe to call from several threads.
     *
     * @throws IllegalArgumentException naming layer, pair index and expert when the layer is not a MoE layer, an id is
     *                                  neither {@link #SKIP} nor owned here, or the shared experts are not held here
     */
    public void compute(int layer, float[] x, int rows, int[] ids, float[] weights, int topK, boolean includeShared,
                        float[] out) {
        if (!isMoeLayer(layer)) {
            throw new IllegalArgumentException("layer " + layer + " is not a MoE layer of this model (MoE layers: "
                    + moeLayers() + ")");
        }
        if (includeShared && shared[layer] == null) {
            throw new IllegalArgumentException("include_shared: " + placement + " does not hold the shared experts");
        }
        routed.computeWithShared(layer, x, rows, ids, weights, topK, includeShared ? shared[layer] : null, out);
    }

    /** The MoE layer indices, e.g. "1..26" or "1, 3, 5", for messages. */
    public String moeLayers() {
        int[] moe = java.util.stream.IntStream.range(0, config.numHiddenLayers()).filter(config::isMoeLayer).toArray();
        if (moe.length == 0) {
            return "none";
        }
        if (moe[moe.length - 1] - moe[0] == moe.length - 1) {
            return moe[0] + ".." + moe[moe.length - 1];
        }
        return Arrays.toString(moe).replace("[", "").replace("]", "");
    }

    public ModelConfig config() {
        return config;
    }

    public ExpertPlacement placement() {
        return placement;
    }

    /** The owned routed experts; a row routed to an expert of another shard is an error naming layer and expert. */
    public LocalExperts routed() {
        return routed;
    }

    /** Whether {@code layer} is a MoE layer of this model (the only layers a shard serves). */
    public boolean isMoeLayer(int layer) {
        return layer >= 0 && layer < config.numHiddenLayers() && config.isMoeLayer(layer);
    }

    /** Whether this shard holds the shared experts. */
    public boolean holdsShared() {
        for (SwiGluMlp s : shared) {
            if (s != null) {
                return true;
            }
        }
        return false;
    }

    /** The fused shared experts of {@code layer}, or null when not held here (or a dense layer). */
    public SwiGluMlp shared(int layer) {
        return layer >= 0 && layer < shared.length ? shared[layer] : null;
    }

    /** Bytes of the weights this shard maps (owned routed experts of every MoE layer + shared experts if held). */
    public long weightBytes() {
        return weightBytes;
    }

    @Override
    public void close() {
        weightsOwner.close();
    }

    @Override
    public String toString() {
        return "ExpertShard[" + placement + (holdsShared() ? " + shared" : "") + ", " + weightBytes + " bytes]";
    }
}
