package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Buffer;

/**
 * Where a MoE layer's routed experts run: in-process ({@link LocalExperts}, on the backend's buffers) or on remote
 * expert shards ({@link HostRoutedExperts}, on host arrays). The model code hands over the batch's rows with their
 * selected (expert, weight) pairs and gets the weighted sums back, so the same model runs embedded or distributed.
 * Ids and weights are host routing metadata.
 */
public interface RoutedExperts {
    /** The expert id that marks a (row, expert) pair to skip: on an expert shard, a pair another shard owns. */
    int SKIP = -1;

    /**
     * {@code out[r] = Σ_k weights[r*topK + k] · expert_{layer, ids[r*topK + k]}(x[r])} for {@code r < rows};
     * {@code x} and {@code out} are {@code [rows, hidden]}; {@code out} is overwritten. Pairs whose id is
     * {@link #SKIP} contribute nothing.
     */
    void compute(int layer, Buffer x, int rows, int hidden, int[] ids, float[] weights, int topK, Buffer out);

    /**
     * Starts {@link #compute} and returns a handle to wait for it, so the caller can overlap other work (the shared
     * experts) with remote calls in flight. {@code x}, {@code ids} and {@code weights} must stay untouched until
     * {@link Pending#await()} returns. The default computes synchronously.
     */
    default Pending start(int layer, Buffer x, int rows, int hidden, int[] ids, float[] weights, int topK,
                          Buffer out) {
        compute(layer, x, rows, hidden, ids, weights, topK, out);
        return Pending.DONE;
    }

    /**
     * Whether the shared experts can join this computation ({@link #computeWithShared}): true where the routed experts
     * run in this process at once, so one grouped kernel call serves both; false where they run elsewhere (remote
     * shards), so that the caller computes the shared experts itself while {@link #start}'s calls are in flight.
     */
    default boolean takesSharedExperts() {
        return false;
    }

    /**
     * {@link #compute}, plus {@code shared(x[r])} added to every row when {@code shared} is not null, in the same
     * call. Only where {@link #takesSharedExperts()}.
     */
    default void computeWithShared(int layer, Buffer x, int rows, int hidden, int[] ids, float[] weights, int topK,
                                   SwiGluMlp shared, Buffer out) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not take the shared experts");
    }
}
