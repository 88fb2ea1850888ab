package dev.dsv2.engine.reference;

import java.util.Arrays;

/**
 * DeepSeek-V2's {@code MoEGate.forward} (inference path, no aux loss) for one token, in double precision:
 * <ol>
 *   <li>scores = softmax(logits) over the n_routed_experts, where logits = gate.weight · x;</li>
 *   <li>{@code greedy}: top-k of the scores. {@code group_limited_greedy}: group_scores = max of each of the
 *       n_group contiguous groups, keep the topk_group best groups, zero the scores of the other groups
 *       ({@code masked_fill(~score_mask, 0.0)}), then top-k of the masked scores;</li>
 *   <li>{@code if top_k > 1 and norm_topk_prob: w /= (sum(w) + 1e-20) else: w *= routed_scaling_factor} —
 *       one branch or the other, never both (unlike DeepSeek-V3), and top_k = 1 never normalises.</li>
 * </ol>
 * torch.topk leaves the order of equal scores unspecified; here ties go to the lower index (experts and groups).
 */
public record NaiveMoeGate(int topK, String topkMethod, Integer nGroup, Integer topkGroup, boolean normTopkProb,
                           double routedScalingFactor) {

    /** The chosen experts, best score first, and the weight each output is multiplied by. */
    public record Routing(int[] experts, double[] weights) {}

    public static NaiveMoeGate of(NaiveConfig c) {
        return new NaiveMoeGate(c.numExpertsPerTok(), c.topkMethod(), c.nGroup(), c.topkGroup(), c.normTopkProb(),
                c.routedScalingFactor());
    }

    public Routing route(double[] logits) {
        double[] scores = softmax(logits);
        double[] candidates = switch (topkMethod) {
            case "greedy" -> scores;
            case "group_limited_greedy" -> groupMasked(scores);
            default -> throw new IllegalArgumentException(
                    "topk_method '" + topkMethod + "': expected greedy or group_limited_greedy");
        };
        int[] experts = topK(candidates, topK);
        double[] weights = new double[topK];
        for (int k = 0; k < topK; k++) weights[k] = candidates[experts[k]];
        if (topK > 1 && normTopkProb) {
            double denominator = Arrays.stream(weights).sum() + 1e-20;
            for (int k = 0; k < topK; k++) weights[k] /= denominator;
        } else {
            for (int k = 0; k < topK; k++) weights[k] *= routedScalingFactor;
        }
        return new Routing(experts, weights);
    }

    private double[] groupMasked(double[] scores) {
        int perGroup = scores.length / nGroup;
        double[] groupScores = new double[nGroup];
        for (int g = 0; g < nGroup; g++) {
            groupScores[g] = Double.NEGATIVE_INFINITY;
            for (int e = g * perGroup; e < (g + 1) * perGroup; e++) groupScores[g] = Math.max(groupScores[g], scores[e]);
        }
        boolean[] kept = new boolean[nGroup];
        for (int g : topK(groupScores, topkGroup)) kept[g] = true;
        double[] masked = new double[scores.length];
        for (int e = 0; e < scores.length; e++) masked[e] = kept[e / perGroup] ? scores[e] : 0.0;
        return masked;
    }

    static double[] softmax(double[] logits) {
        double max = Arrays.stream(logits).max().orElseThrow();
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) sum += p[i] = Math.exp(logits[i] - max);
        for (int i = 0; i < p.length; i++) p[i] /= sum;
        return p;
    }

    /** Indices of the k largest values, largest first; equal values in increasing index order. */
    static int[] topK(double[] values, int k) {
        if (k > values.length) throw new IllegalArgumentException("top-" + k + " of only " + values.length + " values");
        int[] chosen = new int[k];
        boolean[] used = new boolean[values.length];
        for (int n = 0; n < k; n++) {
            int best = -1;
            for (int i = 0; i < values.length; i++) {
                if (!used[i] && (best < 0 || values[i] > values[best])) best = i;
            }
            used[best] = true;
            chosen[n] = best;
        }
        return chosen;
    }
}
