package dev.dsv2.engine.model;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;

import static dev.dsv2.engine.model.Workspace.Slot.MLP_OUT;
import static dev.dsv2.engine.model.Workspace.Slot.NORMED;

/**
 * The reference {@code DeepseekV2DecoderLayer}: {@code h = x + attn(norm1(x)); y = h + mlp(norm2(h))}.
 */
public record DecoderLayer(int index, RmsNorm inputNorm, MlaAttention attention, RmsNorm postAttentionNorm,
                           FeedForward mlp) {

    /** Runs the layer in place on {@code hidden [R, D]}. */
    public void forward(Backend be, ForwardBatch batch, Buffer hidden, LatentKvCache cache, Buffer ropeCs,
                        AttentionMode mode, Workspace ws) {
        begin(be, batch, hidden, cache, ropeCs, mode, ws).await();
    }

    /**
     * Attention (with its residual) and the start of the MLP; finishing waits for the MLP's remote part and adds the
     * second residual. Between the two, another micro-batch can run its attention.
     */
    public Pending begin(Backend be, ForwardBatch batch, Buffer hidden, LatentKvCache cache, Buffer ropeCs,
                         AttentionMode mode, Workspace ws) {
        int rows = batch.rows();
        int d = inputNorm.dim();
        ForwardProfile prof = ws.profile();
        Buffer normed = ws.get(NORMED, (long) rows * d);
        Buffer out = ws.get(MLP_OUT, (long) rows * d);
        inputNorm.apply(be, hidden, 0, d, normed, 0, d, rows);
        long t0 = prof == null ? 0 : System.nanoTime();
        attention.forward(be, batch, normed, out, cache, index, ropeCs, mode, ws);
        if (prof != null) {
            prof.add(ForwardProfile.Phase.ATTENTION, t0);
        }
        be.addResidual(out, hidden, rows * d);
        postAttentionNorm.apply(be, hidden, 0, d, normed, 0, d, rows);
        boolean dense = !(mlp instanceof MoeBlock);
        long t1 = prof == null || !dense ? 0 : System.nanoTime();
        Pending mlpDone = mlp.begin(be, normed, rows, out, ws);
        return ws.layerFinish().set(mlpDone, dense ? prof : null, t1, be, out, hidden, rows * d);
    }

    /**
     * The end of a layer begun with {@link #begin}: wait for the MLP, add the second residual. One reusable object per
     * {@link Workspace} (a workspace has at most one layer pending), so a decode step creates none.
     */
    static final class LayerFinish implements Pending {
        private Pending mlpDone;
        private ForwardProfile denseProfile;
        private long start;
        private Backend be;
        private Buffer out;
        private Buffer hidden;
        private int n;

        LayerFinish set(Pending mlpDone, ForwardProfile denseProfile, long start, Backend be, Buffer out,
                        Buffer hidden, int n) {
            this.mlpDone = mlpDone;
            this.denseProfile = denseProfile;
            this.start = start;
            this.be = be;
            this.out = out;
            this.hidden = hidden;
            this.n = n;
            return this;
        }

        @Override
        public void await() {
            Pending m = mlpDone;
            mlpDone = null;
            if (m == null) {
                throw new IllegalStateException("layer finished twice or never begun");
            }
            m.await();
            if (denseProfile != null) {
                denseProfile.add(ForwardProfile.Phase.DENSE_MLP, start);
            }
            be.addResidual(out, hidden, n);
            be = null;
            out = null;
            hidden = null;
            denseProfile = null;
        }
    }

    /** Bytes of the weights a step reads in this layer, routed experts excluded. */
    public long weightBytes() {
        return inputNorm.byteSize() + attention.weightBytes() + postAttentionNorm.byteSize() + mlp.weightBytes();
    }
}
