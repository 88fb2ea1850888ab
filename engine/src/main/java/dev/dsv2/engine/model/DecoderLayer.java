package dev.dsv2.engine.model;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.kernel.Backend;

import static dev.dsv2.engine.model.Workspace.Slot.MLP_OUT;
import static dev.dsv2.engine.model.Workspace.Slot.NORMED;

/**
 * The reference {@code DeepseekV2DecoderLayer}: {@code h = x + attn(norm1(x)); y = h + mlp(norm2(h))}.
 */
public record DecoderLayer(int index, RmsNorm inputNorm, MlaAttention attention, RmsNorm postAttentionNorm,
                           FeedForward mlp) {

    /** Runs the layer in place on {@code hidden [R, D]}. */
    public void forward(Backend be, ForwardBatch batch, float[] hidden, LatentKvCache cache, RotaryEmbedding rope,
                        float[] ropeCs, AttentionMode mode, Workspace ws) {
        begin(be, batch, hidden, cache, rope, ropeCs, mode, ws).finish();
    }

    /**
     * Attention (with its residual) and the start of the MLP; finishing waits for the MLP's remote part and adds the
     * second residual. Between the two, another micro-batch can run its attention.
     */
    public FeedForward.Finish begin(Backend be, ForwardBatch batch, float[] hidden, LatentKvCache cache,
                                    RotaryEmbedding rope, float[] ropeCs, AttentionMode mode, Workspace ws) {
        int rows = batch.rows();
        int d = inputNorm.dim();
        ForwardProfile prof = ws.profile();
        float[] normed = ws.get(NORMED, rows * d);
        float[] out = ws.get(MLP_OUT, rows * d);
        inputNorm.apply(be, hidden, 0, d, normed, 0, d, rows);
        long t0 = prof == null ? 0 : System.nanoTime();
        attention.forward(be, batch, normed, out, cache, index, rope, ropeCs, mode, ws);
        if (prof != null) {
            prof.add(ForwardProfile.Phase.ATTENTION, t0);
        }
        be.axpy(1f, out, 0, hidden, 0, rows * d);
        postAttentionNorm.apply(be, hidden, 0, d, normed, 0, d, rows);
        boolean dense = !(mlp instanceof MoeBlock);
        long t1 = prof == null || !dense ? 0 : System.nanoTime();
        FeedForward.Finish mlpDone = mlp.begin(be, normed, rows, out, ws);
        return () -> {
            mlpDone.finish();
            if (prof != null && dense) {
                prof.add(ForwardProfile.Phase.DENSE_MLP, t1);
            }
            be.axpy(1f, out, 0, hidden, 0, rows * d);
        };
    }

    /** Bytes of the weights a step reads in this layer, routed experts excluded. */
    public long weightBytes() {
        return inputNorm.byteSize() + attention.weightBytes() + postAttentionNorm.byteSize() + mlp.weightBytes();
    }
}
