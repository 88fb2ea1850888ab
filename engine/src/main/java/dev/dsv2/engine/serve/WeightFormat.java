package dev.dsv2.engine.serve;

import java.util.Locale;

/**
 * How weights are held in memory ({@code dsv2.weights}, {@code --weights}): {@link #BF16} as stored in the
 * checkpoint (the default, bit-exact with the reference), or {@link #INT8} quantized at load time (half the bytes to
 * stream per decode step, at a small accuracy cost).
 */
public enum WeightFormat {
    BF16, INT8;

    /**
     * Parses {@code bf16} or {@code int8} (case-insensitive, blank = bf16).
     *
     * @throws IllegalArgumentException naming the value and the accepted ones
     */
    public static WeightFormat parse(String value) {
        return switch (value == null ? "" : value.trim().toLowerCase(Locale.ROOT)) {
            case "", "bf16" -> BF16;
            case "int8" -> INT8;
            default -> throw new IllegalArgumentException("'" + value + "' is not a weight format (expected bf16 or"
                    + " int8)");
        };
    }

    /** The flag's spelling: bf16 or int8. */
    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
