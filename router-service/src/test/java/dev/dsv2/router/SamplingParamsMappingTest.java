package dev.dsv2.router;

import dev.dsv2.engine.sample.SamplingParams;
import org.junit.jupiter.api.Test;

import java.util.OptionalLong;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How the Router API's proto3 sampling fields become the engine's SamplingParams (zeros mean "unset"). */
class SamplingParamsMappingTest {

    @Test
    void protoDefaultsAreGreedyWithNucleusOffAndRoomForTheRestOfTheContext() {
        SamplingParams p = RouterEndpoint.samplingParams(
                dev.dsv2.proto.internal.v1.SamplingParams.getDefaultInstance(), 10, 256);
        assertTrue(p.isGreedy());
        assertEquals(1.0, p.topP());
        assertEquals(0, p.topK());
        assertEquals(246, p.maxTokens(), "room 256 - 10 prompt tokens");
        assertEquals(OptionalLong.empty(), p.seed());
        assertEquals(0, p.logprobs());
    }

    @Test
    void setFieldsAreTakenAsGiven() {
        SamplingParams p = RouterEndpoint.samplingParams(dev.dsv2.proto.internal.v1.SamplingParams.newBuilder()
                .setTemperature(0.5f).setTopP(0.9f).setTopK(40).setSeed(7).setMaxTokens(12)
                .addStopTokenIds(5).addStopTokenIds(9).setIgnoreEos(true).setLogprobs(3).build(), 10, 256);
        assertEquals(0.5, p.temperature());
        assertEquals(0.9f, (float) p.topP());
        assertEquals(40, p.topK());
        assertEquals(OptionalLong.of(7), p.seed());
        assertEquals(12, p.maxTokens());
        assertEquals(Set.of(5, 9), p.stopTokenIds());
        assertTrue(p.ignoreEos());
        assertEquals(3, p.logprobs());
    }

    @Test
    void aPromptThatFillsTheRoomStillAsksForOneToken() {
        assertEquals(1, RouterEndpoint.samplingParams(
                dev.dsv2.proto.internal.v1.SamplingParams.getDefaultInstance(), 300, 256).maxTokens());
    }
}
