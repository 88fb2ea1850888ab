package dev.dsv2.engine.cuda;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * Which upload holds a host address range: weights are uploaded once per mapped tensor, and any weight later made
 * from one (a {@link dev.dsv2.engine.kernel.Weight#rowSlice}, e.g. the per-head {@code W_UK} / {@code W_UV} of
 * {@code kv_b_proj}, or a tied {@code lm_head}) is found inside it by its address, at a byte offset.
 *
 * @param <T> what an upload is (the device buffer)
 */
final class UploadRanges<T> {
    /** An upload covering host bytes {@code [address, address + bytes)}. */
    record Upload<T>(long address, long bytes, T value) {
    }

    /** Where a range lies: in {@code upload}, from byte {@code offset} of it. */
    record Hit<T>(Upload<T> upload, long offset) {
    }

    private final TreeMap<Long, Upload<T>> byAddress = new TreeMap<>();
    private long bytes;

    /** The upload that holds all of {@code [address, address + length)}, or null. */
    Hit<T> find(long address, long length) {
        Map.Entry<Long, Upload<T>> e = byAddress.floorEntry(address);
        if (e == null) {
            return null;
        }
        Upload<T> u = e.getValue();
        long off = address - u.address();
        return off + length <= u.bytes() ? new Hit<>(u, off) : null;
    }

    /**
     * Records an upload of {@code [address, address + length)}.
     *
     * @throws IllegalArgumentException when it overlaps one already recorded (partial overlaps would upload twice)
     */
    void add(long address, long length, T value) {
        Map.Entry<Long, Upload<T>> below = byAddress.floorEntry(address + length - 1);
        if (below != null && below.getValue().address() + below.getValue().bytes() > address) {
            throw new IllegalArgumentException("host range [" + address + ", +" + length + ") overlaps the upload at "
                    + below.getKey() + " (+" + below.getValue().bytes() + ")");
        }
        byAddress.put(address, new Upload<>(address, length, value));
        bytes += length;
    }

    /** Forgets every upload whose value {@code gone} accepts; returns them (the caller frees them). */
    List<Upload<T>> removeIf(Predicate<T> gone) {
        List<Upload<T>> removed = new ArrayList<>();
        for (Iterator<Upload<T>> it = byAddress.values().iterator(); it.hasNext(); ) {
            Upload<T> u = it.next();
            if (gone.test(u.value())) {
                it.remove();
                bytes -= u.bytes();
                removed.add(u);
            }
        }
        return removed;
    }

    Iterable<Upload<T>> uploads() {
        return byAddress.values();
    }

    /** Bytes of all uploads. */
    long bytes() {
        return bytes;
    }

    void clear() {
        byAddress.clear();
        bytes = 0;
    }
}
