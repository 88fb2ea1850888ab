package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;

/**
 * Routed experts that compute on host arrays (remote expert shards: the rows go on the wire). The adapter hands them
 * the host view of the model's buffers ({@link Backend#hostView}): on the host backends the buffers' own arrays, no
 * copy; on a device backend a download before and an upload of {@code out} after.
 */
public interface HostRoutedExperts extends RoutedExperts {

    /** {@link RoutedExperts#compute} on host arrays {@code x, out [rows, hidden]}. */
    void compute(int layer, float[] x, int rows, int[] ids, float[] weights, int topK, float[] out);

    /** {@link RoutedExperts#start} on host arrays; the default computes synchronously. */
    default Pending start(int layer, float[] x, int rows, int[] ids, float[] weights, int topK, float[] out) {
        compute(layer, x, rows, ids, weights, topK, out);
        return Pending.DONE;
    }

    @Override
    default void compute(int layer, Buffer x, int rows, int hidden, int[] ids, float[] weights, int topK,
                         Buffer out) {
        start(layer, x, rows, hidden, ids, weights, topK, out).await();
    }

    @Override
    default Pending start(int layer, Buffer x, int rows, int hidden, int[] ids, float[] weights, int topK,
                          Buffer out) {
        Backend be = x.backend();
        int n = rows * hidden;
        float[] hx = be.hostView(x, n);
        float[] hout = be.hostView(out, n);
        Pending p = start(layer, hx, rows, ids, weights, topK, hout);
        if (be.hostMemory()) {
            return p;
        }
        return () -> {
            p.await();
            be.commitHostView(hout, out, n);
        };
    }
}
