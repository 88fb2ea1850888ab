package dev.dsv2.engine.serve;

/**
 * Decides per step whether a scheduler step with remote experts runs as two micro-batches ({@link MicroBatches}).
 * <p>
 * For {@link MicroBatches#AUTO} it learns which is faster where it runs: steps are grouped by kind (rows rounded down
 * to a power of two; decode only or with prefill rows), and for each kind it keeps the forward pass's nanoseconds per
 * row as an exponential moving average for either choice. The first {@link #WARMUP} steps of a kind alternate to
 * measure both; after that the faster runs, and every {@link #EXPLORE_EVERY}th step of the kind runs the other, so a
 * change in load (another tenant on the host, a slower shard) is noticed. Splitting must win by {@link #MARGIN}: step
 * times on a busy host scatter by more than that, and one batch is the choice that reads less memory and makes half
 * the expert calls. Not thread-safe: the scheduler thread owns it.
 */
final class MicroBatchChooser {
    static final int WARMUP = 3;
    static final int EXPLORE_EVERY = 32;
    static final double ALPHA = 0.3;
    static final double MARGIN = 0.05;
    private static final int KINDS = 2 * 33;

    private final MicroBatches policy;
    /** [kind][0 = one batch, 1 = split]: nanoseconds per row (moving average) and samples. */
    private final double[][] nanosPerRow = new double[KINDS][2];
    private final int[][] samples = new int[KINDS][2];
    private final long[] decided = new long[KINDS];

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

    /** Records how long the forward pass of a step took, with the choice it ran. */
    void record(int rows, int decodeRows, boolean split, long nanos) {
        if (policy != MicroBatches.AUTO || rows < 1) {
            return;
        }
        int k = kind(rows, decodeRows);
        int c = split ? 1 : 0;
        double perRow = (double) nanos / rows;
        nanosPerRow[k][c] = samples[k][c] == 0 ? perRow : nanosPerRow[k][c] + ALPHA * (perRow - nanosPerRow[k][c]);
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
        return nanosPerRow[k][1] < (1 - MARGIN) * nanosPerRow[k][0];
    }

    private static int kind(int rows, int decodeRows) {
        int log2 = 31 - Integer.numberOfLeadingZeros(Math.max(1, rows));
        return 2 * log2 + (rows > decodeRows ? 1 : 0);
    }
}
