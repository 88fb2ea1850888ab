package dev.dsv2.engine.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;
import dev.dsv2.engine.kernel.MoeRouting;
import dev.dsv2.engine.kernel.Weight;

/**
 * The reference {@code MoEGate}: float32 logits {@code W_gate x}, softmax over the routed experts, then top-k —
 * {@code greedy} over all experts, or {@code group_limited_greedy}: keep the {@code topk_group} groups with the
 * highest per-group max score, zero the rest, top-k over what remains. Weights are renormalised when
 * {@code top_k > 1 && norm_topk_prob}, otherwise multiplied by {@code routed_scaling_factor}. Ties go to the lower
 * expert index. The selection is the backend's {@link Backend#moeGate} operation; ids and weights are host routing
 * metadata.
 */
public final class MoeGate {
    private final Weight weight; // [E, D]
    private final MoeRouting routing;

    public MoeGate(ModelConfig c, Weight weight) {
        this.weight = weight;
        this.routing = new MoeRouting(c.nRoutedExperts(), c.numExpertsPerTok(),
                "group_limited_greedy".equals(c.topkMethod()), c.nGroup(), c.topkGroup(), c.normTopkProb(),
                (float) c.routedScalingFactor());
    }

    public int topK() {
        return routing.topK();
    }

    /** Bytes of the gate weight (read once per step). */
    public long weightBytes() {
        return weight.byteSize();
    }

    /** Routes {@code rows} rows of {@code x [rows, D]}: expert ids and weights into {@code ids/weights [rows, topK]}. */
    public void route(Backend be, Buffer x, int rows, int[] ids, float[] weights) {
        be.moeGate(weight, routing, x, rows, ids, weights);
    }
}
