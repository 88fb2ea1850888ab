package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;

import static dev.dsv2.engine.model.Workspace.IntSlot.EXPERT_IDS;
import static dev.dsv2.engine.model.Workspace.Slot.SHARED_OUT;

/**
 * The reference {@code DeepseekV2MoE}: Router ({@link MoeGate}) -> Dispatch + Experts ({@link RoutedExperts}, local
 * or remote) -> Combine, plus the shared experts every token uses (one fused SwiGLU MLP), added to the routed sum.
 * With local routed experts the shared experts join the routed experts' kernel call (one more group); with remote
 * ones they run here while the remote calls are in flight; when they are placed on the expert shards instead, the
 * block has none and the shards add them.
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
    public void forward(Backend be, Buffer x, int rows, Buffer out, Workspace ws) {
        begin(be, x, rows, out, ws).await();
    }

    /**
     * Routes, then: in-process experts compute at once (routed and shared in one grouped kernel call); remote experts
     * are sent off, the shared experts computed meanwhile, and finishing awaits and combines.
     */
    @Override
    public Pending begin(Backend be, Buffer x, int rows, Buffer out, Workspace ws) {
        ForwardProfile prof = ws.profile();
        long t0 = prof == null ? 0 : System.nanoTime();
        int topK = gate.topK();
        int[] ids = ws.ints(EXPERT_IDS, rows * topK);
        float[] weights = ws.routeWeights(rows * topK);
        gate.route(be, x, rows, ids, weights);
        long t1 = 0;
        if (prof != null) {
            prof.add(ForwardProfile.Phase.GATE, t0);
            prof.countExperts(ids, rows * topK);
            t1 = System.nanoTime();
        }
        if (experts.takesSharedExperts()) {
            experts.computeWithShared(layer, x, rows, hidden, ids, weights, topK, shared, out);
            if (prof != null) {
                prof.add(ForwardProfile.Phase.EXPERTS, t1);
            }
            return Pending.DONE;
        }
        Pending routed = experts.start(layer, x, rows, hidden, ids, weights, topK, out);
        Buffer s = shared == null ? null : ws.get(SHARED_OUT, (long) rows * hidden);
        if (s != null) {
            shared.forward(be, x, rows, s, ws);
        }
        long started = t1;
        return () -> {
            routed.await();
            if (s != null) {
                be.addResidual(s, out, rows * hidden);
            }
            if (prof != null) {
                prof.add(ForwardProfile.Phase.EXPERTS, started);
            }
        };
    }

    @Override
    public long weightBytes() {
        return gate.weightBytes() + (shared == null ? 0 : shared.byteSize());
    }
}
