package dev.dsv2.gateway.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.fuzz.JsonArbitraries;
import dev.dsv2.gateway.fuzz.FuzzModel;
import dev.dsv2.gateway.model.ServedModel;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.time.Duration;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fuzzes the OpenAI request parser (what every HTTP request and every Kafka batch body goes through) with random
 * bodies built from the API's own field names and values of every JSON type, and with raw text: whatever comes in,
 * the answer is a parsed request or a 4xx {@link ApiError} naming the problem, never another exception (a 5xx),
 * and never takes long. Bounded: a few hundred tries per property.
 */
class OpenAiRequestFuzzTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Set<ApiError.Kind> CLIENT_ERRORS = Set.of(ApiError.Kind.INVALID_ARGUMENT, ApiError.Kind.NOT_FOUND);
    static final Duration BOUND = Duration.ofSeconds(10);

    static void parseOrRefuse(Endpoint endpoint, JsonNode body) {
        ServedModel model = FuzzModel.served();
        assertTimeoutPreemptively(BOUND, () -> {
            try {
                OpenAiRequest r = OpenAiRequest.parse(endpoint, body, model, 8192);
                assertTrue(!r.sequences().isEmpty(), "a parsed request has sequences");
            } catch (ApiError e) {
                assertTrue(CLIENT_ERRORS.contains(e.kind()), () -> "a " + e.kind() + " for " + body + ": " + e);
                assertTrue(e.getMessage() != null && !e.getMessage().isBlank());
            } catch (RuntimeException e) {
                fail("an exception escaped for " + body + ": " + e, e);
            }
        });
    }

    @Property(tries = 400)
    void structuredBodiesParseOrAreRefusedAs4xx(@ForAll("endpoints") Endpoint endpoint,
                                               @ForAll("bodies") JsonNode body) {
        parseOrRefuse(endpoint, body);
    }

    @Property(tries = 300)
    void rawTextIsAJsonErrorOrParsesOrIsRefused(@ForAll("endpoints") Endpoint endpoint,
                                               @ForAll("rawBodies") String raw) {
        JsonNode body;
        try {
            body = JSON.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).readTree(raw);
        } catch (JsonProcessingException e) {
            return; // answered 400 "could not parse the JSON body" by the endpoint
        }
        parseOrRefuse(endpoint, body);
    }

    @Provide
    Arbitrary<Endpoint> endpoints() {
        return Arbitraries.of(Endpoint.values());
    }

    @Provide
    Arbitrary<JsonNode> bodies() {
        return JsonArbitraries.requestBodies(FuzzModel.served().name());
    }

    @Provide
    Arbitrary<String> rawBodies() {
        Arbitrary<String> mutated = JsonArbitraries.requestBodies(FuzzModel.served().name())
                .map(JsonNode::toString).flatMap(s -> Arbitraries.integers().between(0, Math.max(0, s.length() - 1))
                        .map(cut -> s.substring(0, cut)));
        Arbitrary<String> noise = Arbitraries.strings().withChars("{}[]\":,0123456789.-eEtrufalsn \\u\t\n")
                .ofMaxLength(200);
        return Arbitraries.oneOf(mutated, noise);
    }
}
