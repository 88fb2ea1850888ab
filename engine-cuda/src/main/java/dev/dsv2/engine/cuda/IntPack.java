package dev.dsv2.engine.cuda;

import java.util.Arrays;

/**
 * The host metadata of one operation (token ids, cache slots, row indices, context offsets and starts) packed into
 * one int array, so that it goes to the device in a single copy; each part is then a slice of the device copy at
 * {@link #add}'s returned offset. Reused between calls (grows, never shrinks).
 */
final class IntPack {
    private int[] data = new int[256];
    private int size;

    /** Forgets the parts (keeps the capacity). */
    IntPack clear() {
        size = 0;
        return this;
    }

    /** Appends {@code src[0, n)}; returns its offset (in ints) in the pack. */
    int add(int[] src, int n) {
        if (n < 0 || n > src.length) {
            throw new IllegalArgumentException(n + " of " + src.length + " ints");
        }
        if (size + n > data.length) {
            data = Arrays.copyOf(data, Math.max(size + n, data.length * 2));
        }
        System.arraycopy(src, 0, data, size, n);
        int off = size;
        size += n;
        return off;
    }

    /** The packed ints; valid in {@code [0, size())}. */
    int[] array() {
        return data;
    }

    int size() {
        return size;
    }
}
