package dev.dsv2.engine.serve;

import dev.dsv2.engine.tensor.Bf16;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The number format of the activations between a router and its expert shards ({@code dsv2.expert-wire}): the
 * hidden rows the router sends and the partial sums the shards answer.
 * <ul>
 *   <li>{@link #BF16} (the default): 2 bytes a value, rounded to nearest, ties to even ({@link Bf16#fromFloat});
 *       half the bytes of float32. The experts then see bf16-rounded inputs and the router adds bf16-rounded sums,
 *       so logprobs drift slightly from the embedded run and a near-tie can pick another token (measured in
 *       docs/performance.md).</li>
 *   <li>{@link #F32}: 4 bytes a value, exact; a distributed run then gives the embedded run's tokens (partial sums
 *       differ only by float32 reassociation).</li>
 * </ul>
 * The codec methods are the one definition of both formats for both sides (router and shard): little-endian values
 * written into and read from a caller's memory (a pooled buffer, the bytes of a received message) at a byte offset,
 * without intermediate arrays.
 */
public enum ExpertWire {
    BF16("bf16", 2),
    F32("f32", 4);

    private static final ValueLayout.OfFloat LE_FLOAT =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort LE_SHORT =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String label;
    private final int bytes;

    ExpertWire(String label, int bytes) {
        this.label = label;
        this.bytes = bytes;
    }

    /** The lower-case name used in settings, flags and logs ({@code bf16}, {@code f32}). */
    public String label() {
        return label;
    }

    /** Bytes per value on the wire. */
    public int bytes() {
        return bytes;
    }

    /**
     * The format named by {@code value} ({@code bf16} or {@code f32}, any case, surrounding blanks ignored).
     *
     * @throws IllegalArgumentException naming the value and the accepted ones
     */
    public static ExpertWire parse(String value) {
        if (value != null) {
            String v = value.strip().toLowerCase(Locale.ROOT);
            for (ExpertWire w : values()) {
                if (w.label.equals(v)) {
                    return w;
                }
            }
        }
        throw new IllegalArgumentException((value == null ? "null" : "'" + value + "'") + " is not a wire format"
                + " (expected " + Arrays.stream(values()).map(ExpertWire::label).collect(Collectors.joining(" or "))
                + ")");
    }

    /**
     * Encodes {@code src[from, from + count)} into {@code dst} from byte offset {@code at}.
     *
     * @throws IndexOutOfBoundsException when the values do not fit
     */
    public void write(float[] src, int from, int count, MemorySegment dst, long at) {
        if (this == F32) {
            MemorySegment.copy(src, from, dst, LE_FLOAT, at, count);
            return;
        }
        MemorySegment region = dst.asSlice(at, 2L * count);
        for (int i = 0; i < count; i++) {
            region.set(LE_SHORT, 2L * i, Bf16.fromFloat(src[from + i]));
        }
    }

    /** Decodes {@code count} values of {@code src} from byte offset {@code at} into {@code dst[from, from + count)}. */
    public void read(MemorySegment src, long at, float[] dst, int from, int count) {
        if (this == F32) {
            MemorySegment.copy(src, LE_FLOAT, at, dst, from, count);
            return;
        }
        MemorySegment region = src.asSlice(at, 2L * count);
        for (int i = 0; i < count; i++) {
            dst[from + i] = Bf16.toFloat(region.get(LE_SHORT, 2L * i));
        }
    }

    /** Adds the {@code count} values of {@code src} from byte offset {@code at} to {@code dst[from, from + count)}. */
    public void addTo(MemorySegment src, long at, float[] dst, int from, int count) {
        MemorySegment region = src.asSlice(at, (long) bytes * count);
        if (this == F32) {
            for (int i = 0; i < count; i++) {
                dst[from + i] += region.get(LE_FLOAT, 4L * i);
            }
        } else {
            for (int i = 0; i < count; i++) {
                dst[from + i] += Bf16.toFloat(region.get(LE_SHORT, 2L * i));
            }
        }
    }

    @Override
    public String toString() {
        return label;
    }
}
