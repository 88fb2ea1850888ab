package dev.dsv2.engine.model;

import dev.dsv2.engine.cache.CacheSequence;
import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.safetensors.Checkpoint;

import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.function.Function;

import static dev.dsv2.engine.model.Workspace.Slot.LOGITS;
import static dev.dsv2.engine.model.Workspace.Slot.LOGITS_IN;

/**
 * DeepSeek-V2 causal LM ({@code DeepseekV2ForCausalLM}): embeddings -> decoder layers -> final norm -> lm_head.
 * Weights stay memory-mapped in their stored dtype; all per-request state lives in the {@link LatentKvCache} and
 * the caller's {@link Workspace}, never in the model, so one model serves many concurrent sequences.
 */
public final class DeepseekV2Model implements AutoCloseable {
    private final ModelConfig config;
    private final Backend backend;
    private final Weight embed;       // [V, D]
    private final DecoderLayer[] layers;
    private final RmsNorm norm;       // [D]
    private final Weight lmHead;      // [V, D]
    private final RotaryEmbedding rope;
    private final AutoCloseable weightsOwner;
    private final boolean remoteExperts;
    private final WeightFormat weightFormat;
    private final long routedExpertBytes;

    DeepseekV2Model(ModelConfig config, Backend backend, WeightFormat weightFormat, Weight embed,
                    DecoderLayer[] layers, RmsNorm norm, Weight lmHead, AutoCloseable weightsOwner,
                    boolean remoteExperts, long routedExpertBytes) {
        this.remoteExperts = remoteExperts;
        this.weightFormat = weightFormat;
        this.routedExpertBytes = routedExpertBytes;
        this.config = config;
        this.backend = backend;
        this.embed = embed;
        this.layers = layers;
        this.norm = norm;
        this.lmHead = lmHead;
        this.rope = new RotaryEmbedding(config);
        this.weightsOwner = weightsOwner;
    }

    /** Loads a checkpoint directory (config.json + safetensors) with every expert in-process. */
    public static DeepseekV2Model load(Path dir, Backend backend, Consumer<String> progress) {
        return load(dir, backend, WeightFormat.BF16, progress);
    }

    /**
     * Loads a checkpoint directory with every expert in-process, its matrix weights in {@code format}
     * ({@link WeightFormat#INT8}: quantized at load time, or as stored in an int8 checkpoint — which runs as int8
     * whatever {@code format} says).
     */
    public static DeepseekV2Model load(Path dir, Backend backend, WeightFormat format, Consumer<String> progress) {
        return ModelLoader.load(dir, backend, format, progress, null, true);
    }

    /**
     * Loads a checkpoint whose routed experts run elsewhere: {@code experts} builds them from the opened checkpoint
     * (e.g. remote shards); the router then maps no routed expert weights itself. With {@code localSharedExperts}
     * false the shared experts are left to the shards too.
     */
    public static DeepseekV2Model load(Path dir, Backend backend, Consumer<String> progress,
                                       Function<Checkpoint, RoutedExperts> experts, boolean localSharedExperts) {
        return load(dir, backend, WeightFormat.BF16, progress, experts, localSharedExperts);
    }

    /** {@link #load(Path, Backend, Consumer, Function, boolean)} with the matrix weights in {@code format}. */
    public static DeepseekV2Model load(Path dir, Backend backend, WeightFormat format, Consumer<String> progress,
                                       Function<Checkpoint, RoutedExperts> experts, boolean localSharedExperts) {
        return ModelLoader.load(dir, backend, format, progress, experts, localSharedExperts);
    }

    /** The format the matrix weights run in (int8 for an int8 checkpoint whatever was asked for). */
    public WeightFormat weightFormat() {
        return weightFormat;
    }

    public ModelConfig config() {
        return config;
    }

    public Backend backend() {
        return backend;
    }

    /**
     * Runs every row of {@code batch} through the model, writing each row's latent into {@code cache}, and returns
     * the next-token logits of {@code batch.logitRows()} as {@code [logitRows, vocab]} in a buffer of {@code ws}
     * (valid until that workspace's next forward). Every sequence must have room reserved for its positions, and a
     * segment must start at or before the sequence's cached length (its earlier context is in the cache).
     */
    public float[] forward(ForwardBatch batch, LatentKvCache cache, AttentionMode mode, Workspace ws) {
        long start = ws.profile() == null ? 0 : System.nanoTime();
        Buffer hidden = embed(batch, cache, ws);
        Buffer ropeCs = ws.get(Workspace.Slot.ROPE, 0);
        for (DecoderLayer layer : layers) {
            layer.forward(backend, batch, hidden, cache, ropeCs, mode, ws);
        }
        return logits(batch, hidden, ws, start);
    }

    /**
     * Two micro-batches in flight: layer by layer, the attention of one runs while the other's routed experts
     * compute (on remote shards), hiding the expert round trip. The sequences of {@code a} and {@code b} must be
     * disjoint. Returns the logits of each, in its own workspace. With in-process experts this is simply {@code a}
     * then {@code b}, layer by layer, with the same results.
     */
    public float[][] forwardOverlapped(ForwardBatch a, Workspace wa, ForwardBatch b, Workspace wb,
                                       LatentKvCache cache, AttentionMode mode) {
        long startA = wa.profile() == null ? 0 : System.nanoTime();
        Buffer ha = embed(a, cache, wa);
        long startB = wb.profile() == null ? 0 : System.nanoTime();
        Buffer hb = embed(b, cache, wb);
        Buffer ca = wa.get(Workspace.Slot.ROPE, 0);
        Buffer cb = wb.get(Workspace.Slot.ROPE, 0);
        Pending pa = layers[0].begin(backend, a, ha, cache, ca, mode, wa);
        for (int l = 0; l < layers.length; l++) {
            Pending pb = layers[l].begin(backend, b, hb, cache, cb, mode, wb);
            pa.await();
            if (l + 1 < layers.length) {
                pa = layers[l + 1].begin(backend, a, ha, cache, ca, mode, wa);
            }
            pb.await();
        }
        return new float[][]{logits(a, ha, wa, startA), logits(b, hb, wb, startB)};
    }

    /** Validates the batch and loads its embeddings and rope tables into {@code ws}; returns the hidden states. */
    private Buffer embed(ForwardBatch batch, LatentKvCache cache, Workspace ws) {
        if (ws.backend() != backend) {
            throw new IllegalArgumentException("the workspace belongs to " + ws.backend().name() + ", the model runs on "
                    + backend.name());
        }
        int rows = batch.rows();
        int d = config.hiddenSize();
        int vocab = config.vocabSize();
        for (ForwardBatch.Segment seg : batch.segments()) {
            CacheSequence seq = seg.sequence();
            if (seg.startPos() > seq.length()) {
                throw new IllegalStateException(seq + ": segment starts at " + seg.startPos()
                        + " but only " + seq.length() + " tokens are cached");
            }
            if (seg.endPos() > cache.capacity(seq)) {
                throw new IllegalStateException(seq + ": positions up to " + seg.endPos()
                        + " need cache room, only " + cache.capacity(seq) + " reserved");
            }
        }
        for (int r = 0; r < rows; r++) {
            int t = batch.tokens()[r];
            if (t < 0 || t >= vocab) {
                throw new IllegalArgumentException("token id " + t + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        Buffer hidden = ws.get(Workspace.Slot.HIDDEN, (long) rows * d);
        backend.embed(embed, batch.tokens(), rows, hidden);
        Buffer ropeCs = ws.get(Workspace.Slot.ROPE, (long) rows * rope.bufferSize());
        rope.tables(backend, batch.positions(), rows, ropeCs);
        return hidden;
    }

    /** Marks the batch's positions cached and computes the wanted rows' logits: final norm, then lm_head. */
    private float[] logits(ForwardBatch batch, Buffer hidden, Workspace ws, long start) {
        ForwardProfile prof = ws.profile();
        int d = config.hiddenSize();
        for (ForwardBatch.Segment seg : batch.segments()) {
            seg.sequence().advanceTo(Math.max(seg.sequence().length(), seg.endPos()));
        }
        long headStart = prof == null ? 0 : System.nanoTime();
        int[] logitRows = batch.logitRows();
        int n = logitRows.length;
        Buffer in = ws.get(LOGITS_IN, (long) n * d);
        norm.applyRows(backend, hidden, logitRows, n, in);
        Buffer logits = ws.get(LOGITS, (long) n * config.vocabSize());
        backend.matmul(lmHead, in, logits, n);
        if (prof != null) {
            prof.add(ForwardProfile.Phase.LM_HEAD, headStart);
            prof.forwardDone(start);
        }
        return backend.hostView(logits, n * config.vocabSize());
    }

    /** Whether routed experts run remotely, so that {@link #forwardOverlapped} can hide their latency. */
    public boolean expertsAreRemote() {
        return remoteExperts;
    }

    /**
     * Bytes of the weights every forward step reads apart from the routed experts: attention, norms, gates, shared
     * experts, dense MLPs and lm_head (the embedding table contributes one row per token and is not counted).
     */
    public long stepWeightBytes() {
        long sum = norm.byteSize() + lmHead.byteSize();
        for (DecoderLayer layer : layers) {
            sum += layer.weightBytes();
        }
        return sum;
    }

    /** Bytes of one routed expert (gate, up and down in the weight format; int8 with its scales); a step reads each selected one once. */
    public long routedExpertBytes() {
        return routedExpertBytes;
    }

    @Override
    public void close() {
        try {
            weightsOwner.close();
        } catch (Exception e) {
            throw new IllegalStateException("closing checkpoint: " + e.getMessage(), e);
        }
    }
}
