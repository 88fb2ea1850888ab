package dev.dsv2.engine.serve;

import java.util.Locale;

/**
 * Whether a step with remote experts runs as two overlapped micro-batches ({@code dsv2.micro-batches}): the attention
 * of one runs while the other's routed experts are on the shards ({@code DeepseekV2Model.forwardOverlapped}).
 * <p>
 * The overlap hides the expert round trip, but each micro-batch reads the weights of every expert it routes to, so a
 * split step reads the experts both halves touch twice: V2-Lite (64 experts, top 6) touches ~35 experts with 8 rows
 * and ~42 when they are split 4 + 4 (1.2x the expert bytes), ~61 with 32 rows and ~102 split 16 + 16 (1.7x). Where
 * the router and the shards share cores (one host, or a shard's memory bandwidth is the bottleneck), the overlap buys
 * nothing and the extra reads cost up to a third of the throughput; across hosts with a slow network it pays.
 * <ul>
 *   <li>{@link #AUTO} (the default): the scheduler measures both per kind of step (rows, rounded to a power of two;
 *       with or without prefill) and runs the faster, re-measuring the other now and then
 *       ({@link MicroBatchChooser});</li>
 *   <li>{@link #ONE}: never split;</li>
 *   <li>{@link #TWO}: split every step of two or more sequences.</li>
 * </ul>
 * In-process experts never split: there is no round trip to hide.
 */
public enum MicroBatches {
    AUTO("auto"),
    ONE("1"),
    TWO("2");

    private final String label;

    MicroBatches(String label) {
        this.label = label;
    }

    /** The value used in settings, flags and logs ({@code auto}, {@code 1}, {@code 2}). */
    public String label() {
        return label;
    }

    /**
     * The policy named by {@code value} ({@code auto}, {@code 1} or {@code 2}, any case, blanks ignored).
     *
     * @throws IllegalArgumentException naming the value and the accepted ones
     */
    public static MicroBatches parse(String value) {
        String v = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
        for (MicroBatches m : values()) {
            if (m.label.equals(v)) {
                return m;
            }
        }
        throw new IllegalArgumentException("'" + value + "' is not a micro-batch policy (accepted: auto, 1, 2)");
    }
}
