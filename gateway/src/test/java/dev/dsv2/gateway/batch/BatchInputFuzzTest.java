package dev.dsv2.gateway.batch;

import dev.dsv2.gateway.fuzz.JsonArbitraries;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.nio.charset.StandardCharsets;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fuzzes the Kafka batch line parser with random bytes, truncated and bit-flipped batch lines and structured JSON:
 * every record is either a request or a dead letter with a reason, nothing throws, nothing hangs. Bounded: a few
 * hundred tries per property.
 */
class BatchInputFuzzTest {
    static final String VALID = "{\"custom_id\":\"r-1\",\"method\":\"POST\",\"url\":\"/v1/completions\","
            + "\"body\":{\"model\":\"m\",\"prompt\":\"Hello\",\"max_tokens\":4}}";

    static void readsAsRequestOrDeadLetter(byte[] value) {
        BatchInput input = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> BatchInput.parse(value));
        assertNotNull(input);
        switch (input) {
            case BatchInput.Request r -> assertFalse(r.customId().isBlank(), "a request has a custom_id");
            case BatchInput.Malformed m -> assertTrue(m.reason().startsWith(m.kind().code() + ": "), m.reason());
        }
    }

    @Property(tries = 400)
    void randomBytesAreRequestsOrDeadLetters(@ForAll("bytes") byte[] value) {
        readsAsRequestOrDeadLetter(value);
    }

    @Property(tries = 400)
    void mutatedBatchLinesAreRequestsOrDeadLetters(@ForAll("mutations") byte[] value) {
        readsAsRequestOrDeadLetter(value);
    }

    @Property(tries = 300)
    void structuredLinesAreRequestsOrDeadLetters(@ForAll("lines") String line) {
        readsAsRequestOrDeadLetter(line.getBytes(StandardCharsets.UTF_8));
    }

    @Provide
    Arbitrary<byte[]> bytes() {
        return Arbitraries.bytes().array(byte[].class).ofMaxSize(300);
    }

    @Provide
    Arbitrary<byte[]> mutations() {
        byte[] valid = VALID.getBytes(StandardCharsets.UTF_8);
        return Arbitraries.integers().between(0, valid.length - 1).list().ofMinSize(1).ofMaxSize(4)
                .flatMap(positions -> Arbitraries.bytes().list().ofSize(positions.size()).map(values -> {
                    byte[] copy = valid.clone();
                    for (int i = 0; i < positions.size(); i++) {
                        copy[positions.get(i)] = values.get(i);
                    }
                    return copy;
                }));
    }

    @Provide
    Arbitrary<String> lines() {
        return Arbitraries.oneOf(JsonArbitraries.values(2).map(Object::toString),
                JsonArbitraries.requestBodies("m").map(body -> "{\"custom_id\":\"x\",\"method\":\"POST\","
                        + "\"url\":\"/v1/chat/completions\",\"body\":" + body + "}"),
                Arbitraries.integers().between(0, VALID.length()).map(cut -> VALID.substring(0, cut)));
    }
}
