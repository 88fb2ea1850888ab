package dev.dsv2.engine.serve;

import dev.dsv2.engine.cache.CacheSequence;
import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.model.ForwardBatch;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The step planner as a pure function: lengths, budget and the cache's answers in, spans and rows out. */
class StepPlannerTest {
    private static final LatentKvCache CACHE = LatentKvCache.forTokens(ModelPresets.preset("tiny"), 64);

    /** A sequence of {@code total} tokens (token at position p = 1000 + p) of which {@code cached} are cached. */
    static final class Fake implements StepPlanner.Sequence {
        final String name;
        final int cached;
        final int total;
        final CacheSequence cacheSeq = CACHE.newSequence();

        Fake(String name, int cached, int total) {
            this.name = name;
            this.cached = cached;
            this.total = total;
        }

        @Override
        public int cached() {
            return cached;
        }

        @Override
        public int total() {
            return total;
        }

        @Override
        public int tokenAt(int position) {
            return 1000 + position;
        }

        @Override
        public CacheSequence cacheSequence() {
            return cacheSeq;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    /** A cache that grants everything except what the test refuses, and records what it was asked. */
    static final class Room implements StepPlanner.Room<Fake> {
        final Set<Fake> refuse = new HashSet<>();
        final Set<Fake> preempted = new HashSet<>();
        /** On a decode request of the key, preempt these. */
        final java.util.Map<Fake, List<Fake>> preemptsOnDecode = new java.util.HashMap<>();
        final List<String> asked = new ArrayList<>();

        @Override
        public boolean forDecode(Fake s) {
            asked.add("decode " + s);
            preempted.addAll(preemptsOnDecode.getOrDefault(s, List.of()));
            return !refuse.contains(s) && !preempted.contains(s);
        }

        @Override
        public boolean forPrefill(Fake s, int tokens) {
            asked.add("prefill " + s + " to " + tokens);
            return !refuse.contains(s);
        }

        @Override
        public boolean running(Fake s) {
            return !preempted.contains(s);
        }
    }

    @Test
    void decodeRowsComeFirstThenPrefillChunksWithinTheBudget() {
        Fake longPrompt = new Fake("long", 0, 100);
        Fake d1 = new Fake("d1", 9, 10);
        Fake partly = new Fake("partly", 20, 30);
        Fake d2 = new Fake("d2", 4, 5);
        StepPlanner.Step<Fake> step = StepPlanner.plan(List.of(longPrompt, d1, partly, d2), 32, new Room());
        assertEquals(List.of(d1, d2, longPrompt), step.seqs());
        assertEquals(List.of(new Span(9, 1), new Span(4, 1), new Span(0, 30)), step.spans(),
                "the long prompt gets the 30 rows left after two decode rows; 'partly' none this step");
        assertEquals(2, step.decodeRows());
        assertEquals(32, step.rows());
    }

    @Test
    void aPrefillChunkEndsAtThePromptAndTheRestOfTheBudgetGoesToTheNext() {
        Fake a = new Fake("a", 0, 5);
        Fake b = new Fake("b", 2, 50);
        StepPlanner.Step<Fake> step = StepPlanner.plan(List.of(a, b), 20, new Room());
        assertEquals(List.of(new Span(0, 5), new Span(2, 15)), step.spans());
        assertEquals(0, step.decodeRows());
    }

    @Test
    void theBudgetCapsDecodeRowsInAdmissionOrder() {
        List<Fake> running = List.of(new Fake("a", 3, 4), new Fake("b", 3, 4), new Fake("c", 3, 4));
        StepPlanner.Step<Fake> step = StepPlanner.plan(running, 2, new Room());
        assertEquals(running.subList(0, 2), step.seqs());
        assertEquals(2, step.decodeRows());
    }

    @Test
    void aRefusedPrefillKeepsItsBudgetForTheNextSequence() {
        Fake refused = new Fake("refused", 0, 10);
        Fake next = new Fake("next", 0, 10);
        Room room = new Room();
        room.refuse.add(refused);
        StepPlanner.Step<Fake> step = StepPlanner.plan(List.of(refused, next), 10, room);
        assertEquals(List.of(next), step.seqs());
        assertEquals(List.of(new Span(0, 10)), step.spans());
        assertEquals(List.of("prefill refused to 10", "prefill next to 10"), room.asked);
    }

    @Test
    void sequencesPreemptedForADecodeRowAreLeftOutOfTheStep() {
        Fake old = new Fake("old", 7, 8);
        Fake young = new Fake("young", 7, 8);
        Fake youngPrefill = new Fake("youngPrefill", 0, 4);
        Room room = new Room();
        room.preemptsOnDecode.put(old, List.of(youngPrefill, young));
        StepPlanner.Step<Fake> step = StepPlanner.plan(List.of(old, young, youngPrefill), 16, room);
        assertEquals(List.of(old), step.seqs());
        assertEquals(List.of("decode old"), room.asked, "preempted sequences are not asked about again");
    }

    @Test
    void aSequenceThatPreemptsItselfGetsNoRow() {
        Fake only = new Fake("only", 7, 8);
        Room room = new Room();
        room.preemptsOnDecode.put(only, List.of(only));
        StepPlanner.Step<Fake> step = StepPlanner.plan(List.of(only), 16, room);
        assertTrue(step.isEmpty());
        assertEquals(0, step.decodeRows());
    }

    @Test
    void fullyCachedSequencesAreSkipped() {
        assertTrue(StepPlanner.plan(List.of(new Fake("idle", 8, 8)), 16, new Room()).isEmpty());
    }

    @Test
    void theSplitPointHalvesTheRowsAndLeavesAtLeastOneSequenceOnEachSide() {
        assertEquals(2, StepPlanner.splitPoint(List.of(new Span(0, 1), new Span(0, 1), new Span(0, 1),
                new Span(0, 1))));
        assertEquals(1, StepPlanner.splitPoint(List.of(new Span(0, 100), new Span(0, 1), new Span(0, 1))),
                "a chunk bigger than half still goes alone into the first micro-batch");
        assertEquals(2, StepPlanner.splitPoint(List.of(new Span(0, 1), new Span(0, 1), new Span(0, 100))),
                "the big chunk is alone in the second");
        assertEquals(1, StepPlanner.splitPoint(List.of(new Span(0, 3), new Span(0, 3))));
        assertThrows(IllegalArgumentException.class, () -> StepPlanner.splitPoint(List.of(new Span(0, 3))));
    }

    @Test
    void theBatchHasOneRowPerPositionAndLogitsOnlyWhereASpanReachesTheLastToken() {
        Fake decode = new Fake("decode", 9, 10);
        Fake chunk = new Fake("chunk", 0, 6);
        Fake whole = new Fake("whole", 1, 3);
        StepPlanner.Batch<Fake> b = StepPlanner.batch(List.of(decode, chunk, whole),
                List.of(new Span(9, 1), new Span(0, 4), new Span(1, 2)));
        ForwardBatch fb = b.batch();
        assertArrayEquals(new int[]{1009, 1000, 1001, 1002, 1003, 1001, 1002}, fb.tokens());
        assertArrayEquals(new int[]{9, 0, 1, 2, 3, 1, 2}, fb.positions());
        assertArrayEquals(new int[]{0, 6}, fb.logitRows(), "the chunk stops before its last token: no logits");
        assertEquals(List.of(decode, whole), b.logitSeqs());
        assertEquals(3, fb.segments().size());
        assertEquals(chunk.cacheSequence(), fb.segments().get(1).sequence());
    }

    @Test
    void spansRefuseEmptyOrNegativeRanges() {
        assertThrows(IllegalArgumentException.class, () -> new Span(0, 0));
        assertThrows(IllegalArgumentException.class, () -> new Span(-1, 2));
        assertEquals(12, new Span(4, 8).end());
    }
}
