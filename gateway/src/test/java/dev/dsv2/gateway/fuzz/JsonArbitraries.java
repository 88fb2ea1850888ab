package dev.dsv2.gateway.fuzz;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

import java.math.BigInteger;
import java.util.List;

/**
 * Generators of hostile JSON for the fuzz tests: any value of any type (huge integers, non-finite and tiny numbers,
 * odd strings, nesting), and request bodies whose fields are the OpenAI API's own names (so the parser's every branch
 * is reached) with such values, or plausible ones.
 */
public final class JsonArbitraries {
    static final JsonNodeFactory F = JsonNodeFactory.instance;
    /** Every field the OpenAI parser reads, and one it does not. */
    static final List<String> FIELDS = List.of("model", "prompt", "messages", "n", "max_tokens",
            "max_completion_tokens", "temperature", "top_p", "top_k", "seed", "stop", "stop_token_ids", "logprobs",
            "top_logprobs", "stream", "stream_options", "response_format", "tools", "tool_choice", "echo", "suffix",
            "best_of", "ignore_eos", "skip_special_tokens", "logit_bias", "presence_penalty", "frequency_penalty",
            "user", "unknown_field");

    private JsonArbitraries() {
    }

    public static Arbitrary<JsonNode> scalars() {
        return Arbitraries.oneOf(
                Arbitraries.just(F.nullNode()),
                Arbitraries.of(true, false).map(F::booleanNode),
                Arbitraries.integers().between(-5, 300).map(i -> (JsonNode) F.numberNode(i)),
                Arbitraries.longs().map(l -> (JsonNode) F.numberNode(l)),
                Arbitraries.bigIntegers().between(BigInteger.TEN.pow(25).negate(), BigInteger.TEN.pow(30))
                        .map(b -> (JsonNode) F.numberNode(b)),
                Arbitraries.of(0.0, -0.0, 0.5, 1.0, 2.0, 2.0000001, 1e-320, 1e308, -1.5, Double.NaN,
                        Double.POSITIVE_INFINITY, 2147483648.0, 1e19).map(d -> (JsonNode) F.numberNode(d)),
                Arbitraries.strings().ofMaxLength(40).map(F::textNode),
                Arbitraries.of("", "user", "system", "assistant", "developer", "tool", "bogus", "text", "none",
                        "{{ x }}", "<｜end▁of▁sentence｜>", "\u0000", "\uD800").map(F::textNode));
    }

    public static Arbitrary<JsonNode> values(int depth) {
        if (depth == 0) {
            return scalars();
        }
        Arbitrary<JsonNode> inner = values(depth - 1);
        Arbitrary<JsonNode> array = inner.list().ofMaxSize(5).map(l -> {
            ArrayNode a = F.arrayNode();
            l.forEach(a::add);
            return (JsonNode) a;
        });
        Arbitrary<JsonNode> object = Combinators.combine(Arbitraries.of(FIELDS).list().ofMaxSize(4)
                .map(l -> l), inner.list().ofSize(4)).as((keys, vals) -> {
                    ObjectNode o = F.objectNode();
                    for (int i = 0; i < keys.size(); i++) {
                        o.set(keys.get(i), vals.get(i));
                    }
                    return (JsonNode) o;
                });
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(3, scalars()), net.jqwik.api.Tuple.of(1, array),
                net.jqwik.api.Tuple.of(1, object), net.jqwik.api.Tuple.of(1, plausible()));
    }

    /** Values a client might well send: messages, prompts, token ids. */
    static Arbitrary<JsonNode> plausible() {
        Arbitrary<JsonNode> message = Combinators.combine(
                Arbitraries.of("user", "system", "assistant", "developer", "tool", "bogus", ""),
                Arbitraries.strings().ofMaxLength(30)).as((role, content) -> {
                    ObjectNode m = F.objectNode();
                    m.put("role", role);
                    m.put("content", content);
                    return (JsonNode) m;
                });
        Arbitrary<JsonNode> messages = message.list().ofMaxSize(4).map(l -> {
            ArrayNode a = F.arrayNode();
            l.forEach(a::add);
            return (JsonNode) a;
        });
        Arbitrary<JsonNode> ids = Arbitraries.integers().between(-3, 130_000).list().ofMaxSize(6).map(l -> {
            ArrayNode a = F.arrayNode();
            l.forEach(a::add);
            return (JsonNode) a;
        });
        Arbitrary<JsonNode> contentParts = Arbitraries.of("{\"type\":\"text\"}", "{\"type\":\"text\",\"text\":\"hi\"}",
                "{\"type\":\"image_url\"}", "3").map(p -> {
                    ArrayNode a = F.arrayNode();
                    try {
                        a.add(new com.fasterxml.jackson.databind.ObjectMapper().readTree(p));
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                    ObjectNode m = F.objectNode();
                    m.put("role", "user");
                    m.set("content", a);
                    ArrayNode list = F.arrayNode();
                    list.add(m);
                    return (JsonNode) list;
                });
        return Arbitraries.oneOf(messages, ids, contentParts);
    }

    /** A request body: mostly the served model's name, a random set of the API's fields with random values. */
    public static Arbitrary<JsonNode> requestBodies(String modelName) {
        Arbitrary<JsonNode> model = Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(8, Arbitraries.just(
                (JsonNode) F.textNode(modelName))), net.jqwik.api.Tuple.of(1, scalars()));
        Arbitrary<List<String>> fields = Arbitraries.of(FIELDS).list().ofMaxSize(8);
        return Combinators.combine(model, fields, values(2).list().ofSize(8)).as((m, keys, vals) -> {
            ObjectNode body = F.objectNode();
            body.set("model", m);
            for (int i = 0; i < keys.size(); i++) {
                body.set(keys.get(i), vals.get(i));
            }
            if (!body.has("prompt") && !body.has("messages")) {
                body.put("prompt", "Hello");
                ArrayNode msgs = body.putArray("messages");
                msgs.addObject().put("role", "user").put("content", "Hello");
            }
            return (JsonNode) body;
        });
    }
}
