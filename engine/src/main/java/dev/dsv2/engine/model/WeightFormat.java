package dev.dsv2.engine.model;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * How the big matrix weights are held in memory ({@code --weights}, {@code dsv2.weights}):
 * <ul>
 *   <li>{@link #BF16}: as the checkpoint stores them (bf16 for DeepSeek checkpoints), memory-mapped, never copied;</li>
 *   <li>{@link #INT8}: symmetric int8 with one bf16 scale per block of 32 values of a row — quantized at load time
 *       from a bf16 checkpoint, or mapped as stored from a checkpoint written by {@code ./dsv2 quantize}
 *       ({@code docs/int8.md}).</li>
 * </ul>
 * A checkpoint written by {@code ./dsv2 quantize} holds no bf16 copy of its quantized weights, so it runs as int8
 * whichever format is asked for ({@link #effective}).
 */
public enum WeightFormat {
    BF16("bf16"),
    INT8("int8");

    private final String label;

    WeightFormat(String label) {
        this.label = label;
    }

    /** The lower-case name used on the command line, in settings and in JSON ({@code bf16}, {@code int8}). */
    public String label() {
        return label;
    }

    /**
     * The format named by {@code value} ({@code bf16} or {@code int8}, any case, surrounding blanks ignored).
     *
     * @throws IllegalArgumentException naming the value and the accepted ones
     */
    public static WeightFormat parse(String value) {
        if (value != null) {
            String v = value.strip().toLowerCase(Locale.ROOT);
            for (WeightFormat f : values()) {
                if (f.label.equals(v)) {
                    return f;
                }
            }
        }
        throw new IllegalArgumentException("unknown weight format " + (value == null ? "null" : "'" + value + "'")
                + " (expected " + Arrays.stream(values()).map(WeightFormat::label).collect(Collectors.joining(" or "))
                + ")");
    }

    /** The format a model loaded with this one runs in: int8 when the checkpoint itself is int8-quantized. */
    public WeightFormat effective(boolean checkpointIsInt8) {
        return checkpointIsInt8 ? INT8 : this;
    }

    @Override
    public String toString() {
        return label;
    }
}
