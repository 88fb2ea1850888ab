package dev.dsv2.router;

import dev.dsv2.engine.kernel.Buffer;
import dev.dsv2.engine.model.Pending;
import dev.dsv2.engine.model.RoutedExperts;
import dev.dsv2.engine.model.SwiGluMlp;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Counts the rows routed to every (layer, expert) on their way to the remote {@link RoutedExperts}, for the
 * {@code dsv2_router_routed_tokens_total{layer,expert}} metric.
 */
final class CountingExperts implements RoutedExperts {
    private final RoutedExperts delegate;
    private final int experts;
    private final AtomicLongArray counts; // [layer * experts + expert]

    CountingExperts(RoutedExperts delegate, int layers, int experts) {
        this.delegate = delegate;
        this.experts = experts;
        this.counts = new AtomicLongArray(layers * experts);
    }

    long count(int layer, int expert) {
        return counts.get(layer * experts + expert);
    }

    RoutedExperts delegate() {
        return delegate;
    }

    private void record(int layer, int rows, int[] ids, int topK) {
        for (int i = 0, n = rows * topK; i < n; i++) {
            counts.incrementAndGet(layer * experts + ids[i]);
        }
    }

    @Override
    public void compute(int layer, Buffer x, int rows, int hidden, int[] ids, float[] weights, int topK, Buffer out) {
        record(layer, rows, ids, topK);
        delegate.compute(layer, x, rows, hidden, ids, weights, topK, out);
    }

    @Override
    public Pending start(int layer, Buffer x, int rows, int hidden, int[] ids, float[] weights, int topK,
                         Buffer out) {
        record(layer, rows, ids, topK);
        return delegate.start(layer, x, rows, hidden, ids, weights, topK, out);
    }

    @Override
    public boolean takesSharedExperts() {
        return delegate.takesSharedExperts();
    }

    @Override
    public void computeWithShared(int layer, Buffer x, int rows, int hidden, int[] ids, float[] weights, int topK,
                                  SwiGluMlp shared, Buffer out) {
        record(layer, rows, ids, topK);
        delegate.computeWithShared(layer, x, rows, hidden, ids, weights, topK, shared, out);
    }
}
