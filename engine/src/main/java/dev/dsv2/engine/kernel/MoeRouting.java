package dev.dsv2.engine.kernel;

/**
 * How the MoE gate picks experts ({@link Backend#moeGate}): softmax over {@code experts} scores, then {@code topK} —
 * greedy over all experts, or group-limited (keep the {@code topkGroup} of {@code groups} groups with the highest
 * per-group max, zero the rest); weights renormalised when {@code topK > 1 && normTopkProb}, otherwise multiplied by
 * {@code scalingFactor}. Ties go to the lower expert index.
 */
public record MoeRouting(int experts, int topK, boolean groupLimited, int groups, int topkGroup, boolean normTopkProb,
                         float scalingFactor) {
}
