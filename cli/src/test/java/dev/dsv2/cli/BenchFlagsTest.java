package dev.dsv2.cli;

import org.junit.jupiter.api.Test;

import static dev.dsv2.cli.MakeModelAndGenerateTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code bench}'s own flags: a bad value is an error (exit 1) before anything is loaded, naming the flag and the
 * value.
 */
class BenchFlagsTest {
    @Test
    void aNegativeWarmUpIsRefusedNamingIt() {
        MakeModelAndGenerateTest.Run r = run("bench", "--preset", "tiny", "--warmup-seconds", "-1");
        assertEquals(1, r.exit(), r.err());
        assertTrue(r.err().contains("--warmup-seconds must be >= 0, got -1.0"), r.err());
        assertEquals("", r.out());
    }

    @Test
    void aBatchBelowOneIsRefusedNamingIt() {
        MakeModelAndGenerateTest.Run r = run("bench", "--preset", "tiny", "--batches", "1,0");
        assertEquals(1, r.exit(), r.err());
        assertTrue(r.err().contains("--batches: batch sizes must be >= 1, got 0"), r.err());
    }
}
