package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Backend;

import static dev.dsv2.engine.model.Workspace.Slot.SHARED_OUT;

/**
 * The reference {@code DeepseekV2MoE}: Router ({@link MoeGate}) -> Dispatch + Experts ({@link RoutedExperts}, local
 * or remote) -> Combine, plus the shared experts every token uses (one fused SwiGLU MLP), added to the routed sum.
 */
public final class MoeBlock implements FeedForward {
    private final int layer;
    private final MoeGate gate;
    private final SwiGluMlp shared;          // [moe_inter * n_shared] fused, or null
    private final RoutedExperts experts;
    private final int hidden;

    public MoeBlock(int layer, MoeGate gate, SwiGluMlp shared, RoutedExperts experts, int hidden) {
        this.layer = layer;
        this.gate = gate;
        this.shared = shared;
        this.experts = experts;
        this.hidden = hidden;
    }

    @Override
    public void forward(Backend be, float[] x, int rows, float[] out, Workspace ws) {
        int topK = gate.topK();
        int[] ids = new int[rows * topK];
        float[] weights = new float[rows * topK];
        gate.route(be, x, rows, ids, weights, ws);
        experts.compute(layer, x, rows, ids, weights, topK, out);
        if (shared != null) {
            float[] s = ws.get(SHARED_OUT, rows * hidden);
            shared.forward(be, x, rows, s, ws);
            be.axpy(1f, s, 0, out, 0, rows * hidden);
        }
    }
}
