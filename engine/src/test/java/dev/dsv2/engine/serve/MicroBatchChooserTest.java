package dev.dsv2.engine.serve;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MicroBatchChooserTest {
    /** Runs {@code steps} decode steps of {@code rows} rows whose forward pass takes the given nanoseconds per row. */
    private static int splits(MicroBatchChooser c, int rows, int steps, long oneBatchPerRow, long splitPerRow) {
        int split = 0;
        for (int i = 0; i < steps; i++) {
            boolean s = c.split(rows, rows, rows);
            split += s ? 1 : 0;
            c.record(rows, rows, rows, s, rows * (s ? splitPerRow : oneBatchPerRow));
        }
        return split;
    }

    @Test
    void autoMeasuresBothThenRunsTheFasterAndReMeasuresTheOtherNowAndThen() {
        MicroBatchChooser c = new MicroBatchChooser(MicroBatches.AUTO);
        assertNull(c.preferred(32, 32));
        assertEquals(MicroBatchChooser.WARMUP, splits(c, 32, 2 * MicroBatchChooser.WARMUP, 1000, 1700),
                "warm-up alternates");
        assertEquals(Boolean.FALSE, c.preferred(32, 32));
        int steps = 10 * MicroBatchChooser.EXPLORE_EVERY;
        assertEquals(10, splits(c, 32, steps, 1000, 1700), "only the exploring steps split");
    }

    @Test
    void autoSwitchesWhenTheOtherChoiceBecomesFaster() {
        MicroBatchChooser c = new MicroBatchChooser(MicroBatches.AUTO);
        splits(c, 8, 2 * MicroBatchChooser.WARMUP + 4 * MicroBatchChooser.EXPLORE_EVERY, 1000, 1200);
        assertEquals(Boolean.FALSE, c.preferred(8, 8));
        // the shards move to other hosts: the overlap now hides a slow round trip
        splits(c, 8, 8 * MicroBatchChooser.EXPLORE_EVERY, 3000, 1200);
        assertEquals(Boolean.TRUE, c.preferred(8, 8));
        int steps = 4 * MicroBatchChooser.EXPLORE_EVERY;
        assertEquals(steps - 4, splits(c, 8, steps, 3000, 1200), "all but the exploring steps split");
    }

    @Test
    void oneSlowStepDoesNotFlipTheChoice() {
        MicroBatchChooser c = new MicroBatchChooser(MicroBatches.AUTO);
        splits(c, 32, 2 * MicroBatchChooser.WARMUP + 10, 1000, 1500);
        c.record(32, 32, 32, false, 32 * 20_000L); // a collection pause in a one-batch step
        assertEquals(Boolean.FALSE, c.preferred(32, 32));
    }

    @Test
    void splittingMustWinByTheMargin() {
        MicroBatchChooser c = new MicroBatchChooser(MicroBatches.AUTO);
        splits(c, 16, 2 * MicroBatchChooser.WARMUP, 1000, 970);
        assertEquals(Boolean.FALSE, c.preferred(16, 16), "3% faster split: within the scatter of step times");
        splits(c, 16, 4 * MicroBatchChooser.EXPLORE_EVERY, 1000, 900);
        assertEquals(Boolean.TRUE, c.preferred(16, 16), "10% faster");
    }

    @Test
    void kindsOfStepsAreLearntApart() {
        MicroBatchChooser c = new MicroBatchChooser(MicroBatches.AUTO);
        splits(c, 4, 2 * MicroBatchChooser.WARMUP, 2000, 1000);
        splits(c, 64, 2 * MicroBatchChooser.WARMUP, 1000, 2000);
        assertEquals(Boolean.TRUE, c.preferred(5, 5), "4-7 rows: one kind");
        assertEquals(Boolean.FALSE, c.preferred(127, 127), "64-127 rows: another");
        assertNull(c.preferred(64, 60), "a step with prefill rows is a kind of its own");
        assertNull(c.preferred(16, 16));
    }

    @Test
    void fixedPoliciesAndSingleSequences() {
        assertFalse(new MicroBatchChooser(MicroBatches.ONE).split(64, 64, 64));
        assertTrue(new MicroBatchChooser(MicroBatches.TWO).split(2, 2, 2));
        for (MicroBatches p : MicroBatches.values()) {
            assertFalse(new MicroBatchChooser(p).split(512, 0, 1), p + ": one sequence is never split");
        }
    }

    @Test
    void aSchedulerConfigWithACountOfMicroBatchesPinsThePolicy() {
        assertEquals(MicroBatches.ONE, new BatchScheduler.Config(64, 8, 0, 512, 1).microBatches());
        assertEquals(MicroBatches.TWO, new BatchScheduler.Config(64, 8, 0, 512, 2).microBatches());
        assertEquals(MicroBatches.AUTO, new BatchScheduler.Config(64, 8, 0, 512).microBatches());
        assertThrows(IllegalArgumentException.class, () -> new BatchScheduler.Config(64, 8, 0, 512, 3));
    }

    @Test
    void policiesParseFromTheirLabels() {
        assertEquals(MicroBatches.AUTO, MicroBatches.parse(" Auto "));
        assertEquals(MicroBatches.ONE, MicroBatches.parse("1"));
        assertEquals(MicroBatches.TWO, MicroBatches.parse("2"));
        assertEquals("'3' is not a micro-batch policy (accepted: auto, 1, 2)",
                assertThrows(IllegalArgumentException.class, () -> MicroBatches.parse("3")).getMessage());
    }
}
