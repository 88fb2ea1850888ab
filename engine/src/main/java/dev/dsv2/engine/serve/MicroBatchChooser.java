package dev.dsv2.engine.serve;

import java.util.Arrays;

/**
 * Decides per step whether a scheduler step with remote experts runs as two micro-batches ({@link MicroBatches}).
 * <p>
 * For {@link MicroBatches#AUTO} it learns which is faster where it runs: steps are grouped by kind (rows rounded down
 * to a power of two; decode only or with prefill rows), and for each kind it keeps the forward pass's nanoseconds per
 * row of the last {@link #WINDOW} steps of either choice and compares their medians (one slow step, a collection
 * pause or a noisy neighbour, moves a median less than a moving average). The first {@link #WARMUP} steps of a kind
 * alternate to measure both; after that the faster runs, and every {@link #EXPLORE_EVERY}th step of the kind runs the
 * other, so a change in load (another tenant on the host, a slower shard) is noticed. Splitting must win by
 * {@link #MARGIN}: step times on a busy host scatter by more than that, and one batch is the choice that reads less
 * memory and makes half the expert calls. Not thread-safe: the scheduler thread owns it.
 */
final class MicroBatchChooser {
    static final int WARMUP = 3;
    static final int EXPLORE_EVERY = 32;
    static final int WINDOW = 7;
    static final double MARGIN = 0.05;
    private static final int KINDS = 2 * 33;

    private final MicroBatches policy;
    /** [kind][0 = one batch, 1 = split][i]: nanoseconds per row of the last {@link #WINDOW} steps (a ring). */
    private final double[][][] nanosPerRow = new double[KINDS][2][WINDOW];
    /** [kind][choice]: steps recorded (the ring's next slot is this modulo WINDOW). */
    private final long[][] samples = new long[KINDS][2];
    private final long[] decided = new long[KINDS];
    private final double[] sorted = new double[WINDOW];

    MicroBatchChooser(MicroBatches policy) {
        this.policy = policy;
    }

    /**
     * Whether to split a step of {@code rows} rows ({@code decodeRows} of them decode rows) over {@code sequences}
     * sequences; never for one sequence.
     */
    boolean split(int rows, int decodeRows, int sequences) {
        if (sequences < 2) {
            return false;
        }
        return switch (policy) {
            case ONE -> false;
            case TWO -> true;
            case AUTO -> learn(kind(rows, decodeRows));
        };
    }

    /**
     * Records how long the forward pass of a step took, with the choice it ran; a step of one sequence (never split)
     * is not a sample of either choice.
     */
    void record(int rows, int decodeRows, int sequences, boolean split, long nanos) {
        if (policy != MicroBatches.AUTO || rows < 1 || sequences < 2) {
            return;
        }
        int k = kind(rows, decodeRows);
        int c = split ? 1 : 0;
        nanosPerRow[k][c][(int) (samples[k][c] % WINDOW)] = (double) nanos / rows;
        samples[k][c]++;
    }

    /** The choice a step of this kind would get now without exploring (for tests and logs); null while warming up. */
    Boolean preferred(int rows, int decodeRows) {
        int k = kind(rows, decodeRows);
        if (samples[k][0] < WARMUP || samples[k][1] < WARMUP) {
            return null;
        }
        return splitIsFaster(k);
    }

    private boolean learn(int k) {
        if (samples[k][0] < WARMUP || samples[k][1] < WARMUP) {
            return samples[k][1] < samples[k][0];
        }
        boolean best = splitIsFaster(k);
        return ++decided[k] % EXPLORE_EVERY == 0 ? !best : best;
    }

    private boolean splitIsFaster(int k) {
        return median(k, 1) < (1 - MARGIN) * median(k, 0);
    }

    private double median(int k, int c) {
        int n = (int) Math.min(samples[k][c], WINDOW);
        System.arraycopy(nanosPerRow[k][c], 0, sorted, 0, n);
        Arrays.sort(sorted, 0, n);
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static int kind(int rows, int decodeRows) {
        int log2 = 31 - Integer.numberOfLeadingZeros(Math.max(1, rows));
        return 2 * log2 + (rows > decodeRows ? 1 : 0);
    }
}
