package dev.dsv2.engine.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Weight;

import static dev.dsv2.engine.model.Workspace.Slot.GATE_LOGITS;
import static dev.dsv2.engine.model.Workspace.Slot.GROUP_SCORES;

/**
 * The reference {@code MoEGate}: float32 logits {@code W_gate x}, softmax over the routed experts, then top-k —
 * {@code greedy} over all experts, or {@code group_limited_greedy}: keep the {@code topk_group} groups with the
 * highest per-group max score, zero the rest, top-k over what remains. Weights are renormalised when
 * {@code top_k > 1 && norm_topk_prob}, otherwise multiplied by {@code routed_scaling_factor}. Ties go to the lower
 * expert index.
 */
public final class MoeGate {
    private final Weight weight; // [E, D]
    private final int experts;
    private final int topK;
    private final boolean groupLimited;
    private final int groups;
    private final int topkGroup;
    private final boolean normTopkProb;
    private final float scalingFactor;

    public MoeGate(ModelConfig c, Weight weight) {
        this.weight = weight;
        this.experts = c.nRoutedExperts();
        this.topK = c.numExpertsPerTok();
        this.groupLimited = "group_limited_greedy".equals(c.topkMethod());
        this.groups = c.nGroup();
        this.topkGroup = c.topkGroup();
        this.normTopkProb = c.normTopkProb();
        this.scalingFactor = (float) c.routedScalingFactor();
    }

    public int topK() {
        return topK;
    }

    /** Bytes of the gate weight (read once per step). */
    public long weightBytes() {
        return weight.byteSize();
    }

    /** Routes {@code rows} rows of {@code x [rows, D]}: expert ids and weights into {@code ids/weights [rows, topK]}. */
    public void route(Backend be, float[] x, int rows, int[] ids, float[] weights, Workspace ws) {
        float[] logits = ws.get(GATE_LOGITS, rows * experts);
        be.matmul(weight, x, 0, logits, 0, rows);
        for (int r = 0; r < rows; r++) {
            int off = r * experts;
            be.softmax(logits, off, experts);
            if (groupLimited) {
                maskGroups(logits, off, ws.get(GROUP_SCORES, groups));
            }
            selectTopK(logits, off, ids, weights, r * topK);
            finishWeights(weights, r * topK);
        }
    }

    /**
     * Zeroes the scores of every expert outside the {@code topk_group} best groups (by max score); {@code groupMax}
     * is scratch of {@code groups} floats (a picked group is marked NaN).
     */
    private void maskGroups(float[] scores, int off, float[] groupMax) {
        int perGroup = experts / groups;
        for (int g = 0; g < groups; g++) {
            float m = Float.NEGATIVE_INFINITY;
            for (int e = 0; e < perGroup; e++) {
                m = Math.max(m, scores[off + g * perGroup + e]);
            }
            groupMax[g] = m;
        }
        for (int k = 0; k < topkGroup; k++) {
            int best = -1;
            for (int g = 0; g < groups; g++) {
                if (!Float.isNaN(groupMax[g]) && (best < 0 || groupMax[g] > groupMax[best])) {
                    best = g;
                }
            }
            groupMax[best] = Float.NaN;
        }
        for (int g = 0; g < groups; g++) {
            if (!Float.isNaN(groupMax[g])) {
                java.util.Arrays.fill(scores, off + g * perGroup, off + (g + 1) * perGroup, 0f);
            }
        }
    }

    private void selectTopK(float[] scores, int off, int[] ids, float[] weights, int outOff) {
        for (int k = 0; k < topK; k++) {
            int best = -1;
            for (int e = 0; e < experts; e++) {
                if (best < 0 || scores[off + e] > scores[off + best]) {
                    if (!taken(ids, outOff, k, e)) {
                        best = e;
                    }
                }
            }
            ids[outOff + k] = best;
            weights[outOff + k] = scores[off + best];
        }
    }

    private static boolean taken(int[] ids, int off, int k, int e) {
        for (int i = 0; i < k; i++) {
            if (ids[off + i] == e) {
                return true;
            }
        }
        return false;
    }

    private void finishWeights(float[] w, int off) {
        if (topK > 1 && normTopkProb) {
            float sum = 0f;
            for (int k = 0; k < topK; k++) {
                sum += w[off + k];
            }
            float denom = sum + 1e-20f;
            for (int k = 0; k < topK; k++) {
                w[off + k] /= denom;
            }
        } else {
            for (int k = 0; k < topK; k++) {
                w[off + k] *= scalingFactor;
            }
        }
    }
}
