package dev.dsv2.engine.sample;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The {@code k} best tokens of one logit row by a bounded heap, without sorting the vocab.
 *
 * <p>Order: higher logit first; equal logits by lower token id. One pass over the {@code n} logits keeps the best
 * {@code k} seen so far in a min-heap whose root is the worst kept token; a new token enters only when its logit is
 * strictly greater than the root's (with ids visited in increasing order, an equal logit always ranks lower), and
 * whole vectors of logits that cannot beat the root are skipped. Cost {@code O(n)} vector compares plus
 * {@code O(k log k log(n/k))} heap work for typical rows ({@code O(n log k)} at worst), then {@code O(k log k)} to
 * order the result. NaN logits must have been rejected before (see {@link SoftmaxKernel#maxLogit}).
 */
final class TopKSelector {
    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;

    private TopKSelector() {
    }

    /**
     * Writes the best {@code min(k, n)} token ids of {@code logits[offset .. offset+n)} into {@code ids}, best first.
     *
     * @param ids receives the ids; its length must be at least {@code min(k, n)}
     * @return how many ids were written, {@code min(k, n)}
     */
    static int select(float[] logits, int offset, int n, int k, int[] ids) {
        int size = Math.min(k, n);
        if (size <= 0) {
            return 0;
        }
        for (int id = 0; id < size; id++) {
            ids[id] = id;
        }
        for (int parent = size / 2 - 1; parent >= 0; parent--) {
            siftDown(logits, offset, ids, parent, size);
        }
        int id = size;
        // Whole vectors of logits that cannot beat the worst kept token are skipped.
        for (int upper = size + FLOATS.loopBound(n - size); id < upper; id += FLOATS.length()) {
            if (FloatVector.fromArray(FLOATS, logits, offset + id)
                    .compare(VectorOperators.GT, logits[offset + ids[0]]).anyTrue()) {
                for (int j = id; j < id + FLOATS.length(); j++) {
                    offer(logits, offset, ids, size, j);
                }
            }
        }
        for (; id < n; id++) {
            offer(logits, offset, ids, size, id);
        }
        // Heap sort: move the worst to the end repeatedly, leaving the best first.
        for (int end = size - 1; end > 0; end--) {
            int worst = ids[0];
            ids[0] = ids[end];
            ids[end] = worst;
            siftDown(logits, offset, ids, 0, end);
        }
        return size;
    }

    private static void offer(float[] logits, int offset, int[] heap, int size, int id) {
        if (logits[offset + id] > logits[offset + heap[0]]) {
            heap[0] = id;
            siftDown(logits, offset, heap, 0, size);
        }
    }

    /** True when token {@code a} ranks below token {@code b}. */
    private static boolean worse(float[] logits, int offset, int a, int b) {
        float la = logits[offset + a];
        float lb = logits[offset + b];
        return la < lb || (la == lb && a > b);
    }

    private static void siftDown(float[] logits, int offset, int[] heap, int index, int size) {
        int node = heap[index];
        while (true) {
            int child = 2 * index + 1;
            if (child >= size) {
                break;
            }
            if (child + 1 < size && worse(logits, offset, heap[child + 1], heap[child])) {
                child++;
            }
            if (!worse(logits, offset, heap[child], node)) {
                break;
            }
            heap[index] = heap[child];
            index = child;
        }
        heap[index] = node;
    }
}
