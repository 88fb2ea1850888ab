package dev.dsv2.engine.sample;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplingParamsTest {
    private static final int VOCAB = 102_400;

    private static String rejection(SamplingParams params) {
        return assertThrows(IllegalArgumentException.class, () -> params.validate(VOCAB, 20)).getMessage();
    }

    private static SamplingParams.Builder valid() {
        return SamplingParams.builder();
    }

    @Test
    void validationMessagesNameTheParameterAsTheOpenAiApiDoes() {
        assertEquals("temperature must be in [0, 2], got 3.0", rejection(valid().temperature(3.0).build()));
        assertEquals("temperature must be in [0, 2], got -0.5", rejection(valid().temperature(-0.5).build()));
        assertEquals("temperature must be in [0, 2], got NaN", rejection(valid().temperature(Double.NaN).build()));
        assertEquals("top_p must be in (0, 1], got 0.0", rejection(valid().topP(0).build()));
        assertEquals("top_p must be in (0, 1], got 1.5", rejection(valid().topP(1.5).build()));
        assertEquals("max_tokens must be >= 1, got 0", rejection(valid().maxTokens(0).build()));
        assertEquals("stop: at most 4 stop sequences, got 5",
                rejection(valid().stop(List.of("a", "b", "c", "d", "e")).build()));
        assertEquals("stop[1] must not be an empty string", rejection(valid().stop(List.of("a", "")).build()));
        assertEquals("stop_token_ids must be in [0, 102400), got 102400",
                rejection(valid().stopTokenIds(Set.of(1, 102_400)).build()));
        assertEquals("stop_token_ids must be in [0, 102400), got -1",
                rejection(valid().stopTokenIds(Set.of(-1)).build()));
        assertEquals("logprobs must be in [0, 20], got 21", rejection(valid().logprobs(21).build()));
        assertEquals("logprobs must be in [0, 20], got -1", rejection(valid().logprobs(-1).build()));
    }

    @Test
    void theBoundariesOfEveryRangeAreAccepted() {
        SamplingParams edge = valid().temperature(2.0).topP(1.0).topK(-1).maxTokens(1)
                .stop(List.of("a", "b", "c", "d")).stopTokenIds(Set.of(0, VOCAB - 1)).logprobs(20).build();
        assertSame(edge, edge.validate(VOCAB, 20));
        valid().temperature(0.0).topP(Double.MIN_VALUE).logprobs(0).build().validate(VOCAB, 20);
    }

    @Test
    void theStopLimitIsConfigurable() {
        SamplingParams six = valid().stop(List.of("1", "2", "3", "4", "5", "6")).build();
        six.validate(VOCAB, 20, 8);
        assertEquals("stop: at most 2 stop sequences, got 6",
                assertThrows(IllegalArgumentException.class, () -> six.validate(VOCAB, 20, 2)).getMessage());
    }

    @Test
    void greedyIsTemperatureZeroWithNothingElseSet() {
        SamplingParams greedy = SamplingParams.greedy(32);
        assertEquals(new SamplingParams(0.0, 1.0, 0, OptionalLong.empty(), 32, List.of(), Set.of(), false, 0), greedy);
        assertTrue(greedy.isGreedy());
        assertFalse(greedy.topKEnabled());
        assertFalse(greedy.topPEnabled());
    }

    @Test
    void theBuilderStartsFromTheApiDefaultsAndToBuilderRoundTrips() {
        SamplingParams defaults = SamplingParams.builder().build();
        assertEquals(new SamplingParams(1.0, 1.0, 0, OptionalLong.empty(), 16, List.of(), Set.of(), false, 0),
                defaults);
        SamplingParams custom = valid().temperature(0.7).topP(0.9).topK(50).seed(42).maxTokens(256)
                .stop(List.of("\n\n")).stopTokenIds(Set.of(7, 3)).ignoreEos(true).logprobs(5).build();
        assertEquals(custom, custom.toBuilder().build());
        assertEquals(OptionalLong.empty(), custom.toBuilder().seed(OptionalLong.empty()).build().seed());
        assertEquals(OptionalLong.of(42), custom.seed());
        assertTrue(custom.topKEnabled());
        assertTrue(custom.topPEnabled());
    }

    @Test
    void collectionsAreCopiedUnmodifiableAndNullsNormalised() {
        List<String> stops = new ArrayList<>(List.of("a"));
        SamplingParams params = new SamplingParams(1, 1, 0, null, 5, stops, null, false, 0);
        stops.add("b");
        assertEquals(List.of("a"), params.stop());
        assertEquals(OptionalLong.empty(), params.seed());
        assertEquals(Set.of(), params.stopTokenIds());
        assertThrows(UnsupportedOperationException.class, () -> params.stop().add("c"));
        SamplingParams ids = valid().stopTokenIds(Set.of(9, 1, 5)).build();
        assertEquals("[1, 5, 9]", ids.stopTokenIds().toString());
        var nullStop = assertThrows(IllegalArgumentException.class,
                () -> valid().stop(Arrays.asList("a", null)).build());
        assertEquals("stop[1] must be a string, got null", nullStop.getMessage());
    }

    @Test
    void finishReasonsUseTheOpenAiNames() {
        assertEquals("stop", FinishReason.STOP.openAiName());
        assertEquals("length", FinishReason.LENGTH.openAiName());
        assertEquals("abort", FinishReason.ABORT.openAiName());
        assertEquals("error", FinishReason.ERROR.openAiName());
        for (FinishReason reason : FinishReason.values()) {
            assertSame(reason, FinishReason.fromOpenAiName(reason.openAiName()));
        }
        assertEquals("finish_reason must be one of stop, length, abort, error, got content_filter",
                assertThrows(IllegalArgumentException.class, () -> FinishReason.fromOpenAiName("content_filter"))
                        .getMessage());
    }
}
