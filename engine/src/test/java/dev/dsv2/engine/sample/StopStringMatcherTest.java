package dev.dsv2.engine.sample;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StopStringMatcherTest {

    @Test
    void withoutStopsEveryDeltaPassesStraightThrough() {
        StopStringMatcher m = new StopStringMatcher(List.of());
        assertEquals(new StopStringMatcher.Result("Hello", Optional.empty()), m.append("Hello"));
        assertEquals(" world", m.append(" world").text());
        assertEquals("", m.flush());
    }

    @Test
    void aStopSplitAcrossManyDeltasIsHeldBackThenCutWithNothingAfterIt() {
        StopStringMatcher m = new StopStringMatcher(List.of("STOP"));
        assertEquals("Hello ", m.append("Hello S").text());
        assertEquals("S", m.pending());
        assertEquals("", m.append("T").text());
        assertEquals("", m.append("O").text());
        StopStringMatcher.Result last = m.append("P and more");
        assertEquals(new StopStringMatcher.Result("", Optional.of("STOP")), last);
        assertTrue(last.stopped());
        assertEquals("", m.flush());
    }

    @Test
    void heldBackTextThatDoesNotBecomeAStopIsReleased() {
        StopStringMatcher m = new StopStringMatcher(List.of("STOP"));
        assertEquals("", m.append("ST").text());
        StopStringMatcher.Result r = m.append("ay");
        assertEquals("STay", r.text());
        assertFalse(r.stopped());
        assertEquals("", m.append("STO").text());
        assertEquals("STO", m.flush());
    }

    @Test
    void aStopAtTheVeryStartEmitsNothing() {
        StopStringMatcher m = new StopStringMatcher(List.of("\n\n"));
        StopStringMatcher.Result r = m.append("\n\nAnswer");
        assertEquals("", r.text());
        assertEquals(Optional.of("\n\n"), r.matchedStop());
    }

    @Test
    void overlappingStopsCutAtTheEarliestOccurrence() {
        List<String> stops = List.of("ab", "b");
        StopStringMatcher whole = new StopStringMatcher(stops);
        assertEquals(new StopStringMatcher.Result("x", Optional.of("ab")), whole.append("xab"));

        StopStringMatcher split = new StopStringMatcher(stops);
        assertEquals("x", split.append("xa").text());
        assertEquals(new StopStringMatcher.Result("", Optional.of("ab")), split.append("b"));

        StopStringMatcher onlyB = new StopStringMatcher(stops);
        assertEquals(new StopStringMatcher.Result("x", Optional.of("b")), onlyB.append("xb"));
    }

    @Test
    void amongSeveralStopsTheEarliestOccurrenceWinsNotTheFirstListed() {
        StopStringMatcher m = new StopStringMatcher(List.of("world", "lo"));
        assertEquals(new StopStringMatcher.Result("hel", Optional.of("lo")), m.append("hello world"));
        StopStringMatcher longerButEarlier = new StopStringMatcher(List.of("lo", "hello world"));
        assertEquals(new StopStringMatcher.Result("", Optional.of("hello world")), longerButEarlier.append("hello world"));
        StopStringMatcher sameStart = new StopStringMatcher(List.of("ab", "abc"));
        assertEquals(new StopStringMatcher.Result("x", Optional.of("ab")), sameStart.append("xabc"));
    }

    @Test
    void unicodeStopsMatchAcrossDeltasAndSurrogatePairsAreNeverSplit() {
        StopStringMatcher cjk = new StopStringMatcher(List.of("終わり"));
        assertEquals("こんにちは、", cjk.append("こんにちは、終").text());
        assertEquals(new StopStringMatcher.Result("", Optional.of("終わり")), cjk.append("わり。"));

        StopStringMatcher emojiStop = new StopStringMatcher(List.of("🛑"));
        assertEquals("abc", emojiStop.append("abc\uD83D").text()); // high half of 🛑 held back
        assertEquals(new StopStringMatcher.Result("", Optional.of("🛑")), emojiStop.append("\uDED1rest"));

        StopStringMatcher other = new StopStringMatcher(List.of("🛑"));
        assertEquals("a", other.append("a\uD83D").text()); // could be 🛑 or any other emoji
        assertEquals("\uD83D\uDE00b", other.append("\uDE00b").text()); // 😀: released whole

        StopStringMatcher noStops = new StopStringMatcher(List.of());
        assertEquals("é", noStops.append("é\uD83D").text());
        assertEquals("\uD83D\uDE00", noStops.append("\uDE00").text());
    }

    @Test
    void anySplittingOfTheTextEmitsTheSameTextUpToTheEarliestStop() {
        String text = "Sure! Here is the plan:\n- step one\n- step two</s> trailing tokens END";
        List<String> stops = List.of("</s>", "\n\n", "END", "step three");
        String expected = "Sure! Here is the plan:\n- step one\n- step two";
        SplittableRandom random = new SplittableRandom(3);
        for (int trial = 0; trial < 300; trial++) {
            StopStringMatcher m = new StopStringMatcher(stops);
            StringBuilder emitted = new StringBuilder();
            boolean stopped = false;
            for (String delta : randomSplit(text, random)) {
                StopStringMatcher.Result r = m.append(delta);
                emitted.append(r.text());
                if (r.stopped()) {
                    assertEquals(Optional.of("</s>"), r.matchedStop());
                    stopped = true;
                    break;
                }
            }
            assertTrue(stopped);
            assertEquals(expected, emitted.toString(), "trial " + trial);
        }
    }

    @Test
    void theStreamEndsAfterAStopOrAFlush() {
        StopStringMatcher stopped = new StopStringMatcher(List.of("x"));
        stopped.append("axb");
        var afterStop = assertThrows(IllegalStateException.class, () -> stopped.append("more"));
        assertEquals("append after the stream ended (a stop string matched or flush() was called)",
                afterStop.getMessage());
        StopStringMatcher flushed = new StopStringMatcher(List.of("x"));
        flushed.append("ab");
        assertEquals("", flushed.flush());
        assertThrows(IllegalStateException.class, () -> flushed.append("c"));
    }

    @Test
    void rejectsEmptyOrNullStopStrings() {
        var empty = assertThrows(IllegalArgumentException.class, () -> new StopStringMatcher(List.of("a", "")));
        assertEquals("stop[1] must be a non-empty string, got \"\"", empty.getMessage());
        List<String> withNull = new ArrayList<>();
        withNull.add(null);
        var nul = assertThrows(IllegalArgumentException.class, () -> new StopStringMatcher(withNull));
        assertEquals("stop[0] must be a non-empty string, got null", nul.getMessage());
    }

    private static List<String> randomSplit(String text, SplittableRandom random) {
        List<String> parts = new ArrayList<>();
        int at = 0;
        while (at < text.length()) {
            int end = Math.min(text.length(), at + 1 + random.nextInt(random.nextBoolean() ? 2 : 9));
            parts.add(text.substring(at, end));
            at = end;
        }
        return parts;
    }
}
