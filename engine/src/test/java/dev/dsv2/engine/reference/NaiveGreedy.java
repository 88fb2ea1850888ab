package dev.dsv2.engine.reference;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Greedy decoding on the oracle: every step recomputes {@link NaiveDeepseekV2#forward} over the whole sequence
 * (prompt + tokens chosen so far), takes the last position's logits, picks the argmax (ties → lowest id) and
 * records the natural-log softmax of those raw logits, in double.
 */
public final class NaiveGreedy {
    private NaiveGreedy() {}

    /** One decoding step: the chosen token and log_softmax over the whole vocabulary [V]. */
    public record Step(int token, double[] logprobs) {}

    public static List<Step> greedy(NaiveDeepseekV2 m, int[] prompt, int maxTokens) {
        if (prompt.length == 0) throw new IllegalArgumentException("greedy needs a non-empty prompt");
        int[] sequence = Arrays.copyOf(prompt, prompt.length + maxTokens);
        List<Step> steps = new ArrayList<>(maxTokens);
        for (int s = 0; s < maxTokens; s++) {
            int length = prompt.length + s;
            double[][] logits = m.forward(Arrays.copyOf(sequence, length));
            double[] last = logits[length - 1];
            int best = 0;
            for (int v = 1; v < last.length; v++) if (last[v] > last[best]) best = v;
            sequence[length] = best;
            steps.add(new Step(best, logSoftmax(last)));
        }
        return steps;
    }

    /** log_softmax(x)_i = x_i - (max + ln Σ exp(x_j - max)). */
    public static double[] logSoftmax(double[] logits) {
        double max = Arrays.stream(logits).max().orElseThrow();
        double sum = 0;
        for (double v : logits) sum += Math.exp(v - max);
        double logZ = max + Math.log(sum);
        double[] out = new double[logits.length];
        for (int i = 0; i < out.length; i++) out[i] = logits[i] - logZ;
        return out;
    }
}
