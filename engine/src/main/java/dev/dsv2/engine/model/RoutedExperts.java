package dev.dsv2.engine.model;

/**
 * Where a MoE layer's routed experts run: in-process ({@link LocalExperts}) or on remote expert shards. The model
 * code hands over the batch's rows with their selected (expert, weight) pairs and gets the weighted sums back, so
 * the same model runs embedded or distributed.
 */
public interface RoutedExperts {
    /**
     * {@code out[r] = Σ_k weights[r*topK + k] · expert_{layer, ids[r*topK + k]}(x[r])} for {@code r < rows};
     * {@code x} and {@code out} are {@code [rows, hidden]}; {@code out} is overwritten.
     */
    void compute(int layer, float[] x, int rows, int[] ids, float[] weights, int topK, float[] out);

    /**
     * Starts {@link #compute} and returns a handle to wait for it, so the caller can overlap other work (the shared
     * experts) with remote calls in flight. {@code x}, {@code ids} and {@code weights} must stay untouched until
     * {@link Pending#await()} returns. The default computes synchronously.
     */
    default Pending start(int layer, float[] x, int rows, int[] ids, float[] weights, int topK, float[] out) {
        compute(layer, x, rows, ids, weights, topK, out);
        return Pending.DONE;
    }

    /** An expert computation in flight. */
    @FunctionalInterface
    interface Pending {
        /** Waits for the result; rethrows its failure (e.g. a {@code ServingException} naming an unreachable shard). */
        void await();

        Pending DONE = () -> { };
    }
}
