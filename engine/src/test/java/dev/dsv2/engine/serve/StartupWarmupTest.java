package dev.dsv2.engine.serve;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.model.ExpertPlacement;
import dev.dsv2.engine.model.ExpertShard;
import dev.dsv2.testsupport.TestCheckpoints;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The start-up warm-up: what it runs, that it leaves the engine as it found it, and that it never fails a start. */
class StartupWarmupTest {
    private static final Path TINY = TestCheckpoints.preset("tiny", 5);

    private static ServingSettings settings(int warmupSteps, int maxRunning) {
        return ServingSettings.defaults().withThreads(2).withKvCacheTokens(1024).withContextLimit(512)
                .withBatchLimits(64, maxRunning).withWarmupSteps(warmupSteps);
    }

    @Test
    void roundsOfOneFourAndSixteenSequencesRunAndTheEngineThenGeneratesWhatTheModelAloneDoes() throws Exception {
        List<String> progress = new ArrayList<>();
        try (ServingEngine engine = ServingEngine.load(TINY, settings(8, 16), null)) {
            StartupWarmup.Result r = engine.warmUp(progress::add);
            assertNull(r.stoppedBy(), r.describe());
            // batch 1: 8 tokens; batch 4: 4 tokens each; batch 16: 2 tokens each
            assertEquals(1 + 4 + 16, r.requests());
            assertEquals(8 + 4 * 4 + 16 * 2, r.tokens());
            assertEquals(4, progress.size(), progress.toString()); // the announcement, then one line per round
            assertTrue(progress.get(3).startsWith("warm-up: batch 16, 2 tokens each"), progress.get(3));
            // A request completes (its listener runs) before the scheduler frees its blocks and publishes its stats.
            long deadline = System.nanoTime() + 10_000_000_000L;
            while ((engine.scheduler().stats().running() != 0 || engine.cache().usedBlocks() != 0)
                    && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            BatchScheduler.Stats stats = engine.scheduler().stats();
            assertEquals(0, stats.running());
            assertEquals(0, stats.waiting());
            assertEquals(0, engine.cache().usedBlocks(), "every warm-up sequence gave its blocks back");

            ServingEngineTest.assertGeneratesWhatTheModelAloneDoes(engine);
        }
    }

    @Test
    void roundsAreCappedByMaxRunningAndZeroStepsRunsNothing() {
        try (ServingEngine engine = ServingEngine.load(TINY, settings(4, 3), null)) {
            StartupWarmup.Result none = StartupWarmup.run(engine.scheduler(), 1024, 0, line -> { });
            assertEquals(0, none.requests());
            assertEquals(0, engine.scheduler().stats().steps(), "nothing ran");
            // batch 1 (4 tokens), then batch 3 (2 tokens each): the batch-16 round is capped to 3, already run
            StartupWarmup.Result r = StartupWarmup.run(engine.scheduler(), 1024, 4, line -> { });
            assertNull(r.stoppedBy(), r.describe());
            assertEquals(1 + 3, r.requests());
            assertEquals(4 + 3 * 2, r.tokens());
        }
        try (ServingEngine engine = ServingEngine.load(TINY, settings(0, 16), null)) {
            assertEquals(0, engine.warmUp(null).requests(), "dsv2.warmup-steps=0: no warm-up");
            assertEquals(0, engine.scheduler().stats().steps());
        }
    }

    @Test
    void aWarmUpThatCannotRunSaysWhyInsteadOfFailingTheStart() {
        try (ServingEngine engine = ServingEngine.load(TINY, settings(4, 16), null)) {
            engine.scheduler().close();
            StartupWarmup.Result r = engine.warmUp(null);
            assertEquals(0, r.requests());
            assertEquals("the scheduler is shut down", r.stoppedBy());
            assertTrue(r.describe().endsWith("; stopped early: the scheduler is shut down"), r.describe());
        }
    }

    @Test
    void aShardWarmsUpEveryMoeLayerItHoldsAtEachBatchSize() {
        ServingSettings s = ServingSettings.defaults().withThreads(2);
        try (Backend backend = s.createBackend();
             ExpertShard shard = ExpertShard.load(TINY, backend, new ExpertPlacement(1, 2,
                     dev.dsv2.engine.config.ModelConfig.load(TINY).nRoutedExperts()), true, null)) {
            int moeLayers = (int) IntStream.range(0, shard.config().numHiddenLayers()).filter(shard::isMoeLayer)
                    .count();
            List<String> progress = new ArrayList<>();
            StartupWarmup.Result r = StartupWarmup.shard(shard, 8, progress::add);
            assertNull(r.stoppedBy(), r.describe());
            assertEquals((8 + 4 + 2) * moeLayers, r.requests(), "calls: 8 at 1 row, 4 at 4 rows, 2 at 16 rows");
            assertEquals(StartupWarmup.BATCHES.length, progress.size());
        }
    }

    @Test
    void theKeyDefaultsTo32AndRefusesANegativeCount() {
        assertEquals(32, ServingSettings.defaults().warmupSteps());
        assertEquals(0, ServingSettings.parse(k -> Optional.ofNullable(Map.of("dsv2.warmup-steps", "0").get(k)))
                .warmupSteps());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ServingSettings.parse(
                k -> Optional.ofNullable(Map.of("dsv2.warmup-steps", "-1").get(k))));
        assertEquals("dsv2.warmup-steps (DSV2_WARMUP_STEPS) must be >= 0, got -1", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ServingSettings.parse(
                k -> Optional.ofNullable(Map.of("dsv2.warmup-steps", "many").get(k))));
    }
}
