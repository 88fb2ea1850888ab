package dev.dsv2.gateway.grpc;

import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.core.Prompts;
import dev.dsv2.proto.v1.ChatMessage;
import dev.dsv2.proto.v1.ChatMessages;
import dev.dsv2.proto.v1.GenerateRequest;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

import java.util.List;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fuzzes the gRPC request validation (sampling fields, chat messages, the context-limit rules) with random
 * {@link GenerateRequest}s, odd floats and roles included: each is accepted or refused with INVALID_ARGUMENT naming a
 * field, never another exception. Bounded: a few hundred tries per property.
 */
class GrpcRequestFuzzTest {
    static final int VOCAB = 129_280;

    static void refusedAsInvalid(Runnable check, Object input) {
        try {
            check.run();
        } catch (ApiError e) {
            assertEquals(ApiError.Kind.INVALID_ARGUMENT, e.kind(), () -> input + " -> " + e);
            assertTrue(e.param() != null, () -> "the error names a field: " + e);
        } catch (RuntimeException e) {
            fail("an exception escaped for " + input + ": " + e, e);
        }
    }

    @Property(tries = 500)
    void samplingFieldsAreAcceptedOrRefusedAsInvalidArgument(@ForAll("requests") GenerateRequest request) {
        refusedAsInvalid(() -> GrpcRequests.sampling(request, VOCAB).build(), request);
        refusedAsInvalid(() -> GrpcRequests.messages(request.getMessages()), request);
    }

    @Property(tries = 500)
    void theContextRulesNeverFailOtherwise(@ForAll @IntRange(min = 0, max = 200_000) int promptTokens,
                                           @ForAll("maxTokens") OptionalInt requested,
                                           @ForAll @IntRange(min = 2, max = 200_000) int contextLimit,
                                           @ForAll("cacheTokens") long cacheTokens) {
        refusedAsInvalid(() -> {
            int max = Prompts.maxTokens(promptTokens, requested, Integer.MAX_VALUE, contextLimit, cacheTokens,
                    "prompt", "max_tokens");
            assertTrue(max >= 1 && (long) promptTokens + max <= contextLimit, "a budget within the context: " + max);
        }, List.of(promptTokens, requested, contextLimit, cacheTokens));
    }

    @Provide
    Arbitrary<OptionalInt> maxTokens() {
        return Arbitraries.oneOf(Arbitraries.just(OptionalInt.empty()),
                Arbitraries.integers().map(OptionalInt::of));
    }

    @Provide
    Arbitrary<Long> cacheTokens() {
        return Arbitraries.oneOf(Arbitraries.just(0L), Arbitraries.longs().between(1, 1 << 22));
    }

    @Provide
    Arbitrary<GenerateRequest> requests() {
        Arbitrary<Float> floats = Arbitraries.oneOf(Arbitraries.floats().between(-3, 3),
                Arbitraries.of(Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -0f, Float.MIN_VALUE,
                        Float.MAX_VALUE, 2f, 1f, 0f));
        Arbitrary<Integer> ints = Arbitraries.oneOf(Arbitraries.integers().between(-5, 30), Arbitraries.integers());
        Arbitrary<List<String>> stops = Arbitraries.strings().ofMaxLength(5).list().ofMaxSize(6);
        Arbitrary<List<Integer>> stopIds = Arbitraries.integers().between(-10, VOCAB + 10).list().ofMaxSize(5);
        Arbitrary<List<ChatMessage>> messages = Combinators.combine(
                Arbitraries.of("user", "system", "assistant", "developer", "tool", "bogus", "", "USER"),
                Arbitraries.strings().ofMaxLength(20)).as((role, content) -> ChatMessage.newBuilder().setRole(role)
                .setContent(content).build()).list().ofMaxSize(4);
        Arbitrary<Integer> which = Arbitraries.integers().between(0, 255);
        return Combinators.combine(floats, floats, ints, ints, stops, stopIds, messages, which)
                .as((temperature, topP, topK, logprobs, stop, ids, msgs, present) -> {
                    GenerateRequest.Builder b = GenerateRequest.newBuilder();
                    if ((present & 1) != 0) {
                        b.setTemperature(temperature);
                    }
                    if ((present & 2) != 0) {
                        b.setTopP(topP);
                    }
                    if ((present & 4) != 0) {
                        b.setTopK(topK);
                    }
                    if ((present & 8) != 0) {
                        b.setLogprobs(logprobs);
                    }
                    if ((present & 16) != 0) {
                        b.setSeed(topK * 31L);
                    }
                    b.addAllStop(stop).addAllStopTokenIds(ids).setIgnoreEos((present & 32) != 0);
                    b.setMessages(ChatMessages.newBuilder().addAllMessages(msgs));
                    return b.build();
                });
    }
}
