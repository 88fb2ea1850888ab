package dev.dsv2.gateway.batch;

import dev.dsv2.gateway.batch.BatchInput.DeadLetterReason;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.stream.Stream;

import static dev.dsv2.gateway.batch.BatchLines.utf8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which records are batch lines (a result is owed) and which are dead letters, and why. */
class BatchInputTest {

    @Test
    void aBatchLineKeepsItsCustomIdUrlAndBodyAsGiven() {
        BatchInput.Request r = assertInstanceOf(BatchInput.Request.class, BatchInput.parse(utf8("""
                {"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions",
                 "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}}""")));
        assertEquals("req-1", r.customId());
        assertEquals("/v1/chat/completions", r.url());
        assertEquals("m", r.body().get("model").asText());
    }

    @Test
    void aLineWithABadUrlOrBodyIsStillABatchLineThatIsOwedAResult() {
        BatchInput.Request noUrl = assertInstanceOf(BatchInput.Request.class, BatchInput.parse(utf8("""
                {"custom_id": "a", "method": "POST", "body": 7}""")));
        assertNull(noUrl.url());
        assertEquals(7, noUrl.body().asInt());
        BatchInput.Request numericUrl = assertInstanceOf(BatchInput.Request.class, BatchInput.parse(utf8("""
                {"custom_id": "b", "method": "POST", "url": 3}""")));
        assertNull(numericUrl.url());
        assertNull(numericUrl.body());
        assertEquals("/v1/embeddings", ((BatchInput.Request) BatchInput.parse(utf8("""
                {"custom_id": "c", "method": "POST", "url": "/v1/embeddings", "body": {}}"""))).url());
    }

    static Stream<Arguments> malformed() {
        return Stream.of(
                Arguments.of("tombstone", null, DeadLetterReason.EMPTY, "(null)"),
                Arguments.of("empty value", new byte[0], DeadLetterReason.EMPTY, "0 bytes"),
                Arguments.of("invalid UTF-8", new byte[]{'{', (byte) 0xC3, (byte) 0x28, '}'},
                        DeadLetterReason.NOT_UTF8, "not valid UTF-8"),
                Arguments.of("a lone surrogate encoded", new byte[]{'"', (byte) 0xED, (byte) 0xA0, (byte) 0x80, '"'},
                        DeadLetterReason.NOT_UTF8, "not valid UTF-8"),
                Arguments.of("plain text", utf8("hello"), DeadLetterReason.NOT_JSON, "line 1, column"),
                Arguments.of("truncated JSON", utf8("{\"custom_id\": \"a\", "), DeadLetterReason.NOT_JSON,
                        "not a JSON document"),
                Arguments.of("two documents", utf8("{\"custom_id\": \"a\"} {}"), DeadLetterReason.NOT_JSON,
                        "not a JSON document"),
                Arguments.of("whitespace", utf8("  \n"), DeadLetterReason.NOT_JSON, "only whitespace"),
                Arguments.of("an array", utf8("[1, 2]"), DeadLetterReason.NOT_OBJECT, "got an array"),
                Arguments.of("a string", utf8("\"line\""), DeadLetterReason.NOT_OBJECT, "got the string \"line\""),
                Arguments.of("no custom_id", utf8("{\"method\": \"POST\", \"url\": \"/v1/completions\"}"),
                        DeadLetterReason.BAD_CUSTOM_ID, "has no custom_id"),
                Arguments.of("null custom_id", utf8("{\"custom_id\": null, \"method\": \"POST\"}"),
                        DeadLetterReason.BAD_CUSTOM_ID, "has no custom_id"),
                Arguments.of("blank custom_id", utf8("{\"custom_id\": \"  \", \"method\": \"POST\"}"),
                        DeadLetterReason.BAD_CUSTOM_ID, "got the string \"  \""),
                Arguments.of("numeric custom_id", utf8("{\"custom_id\": 42, \"method\": \"POST\"}"),
                        DeadLetterReason.BAD_CUSTOM_ID, "got the number 42"),
                Arguments.of("GET", utf8("{\"custom_id\": \"a\", \"method\": \"GET\", \"url\": \"/v1/models\"}"),
                        DeadLetterReason.BAD_METHOD, "got the string \"GET\" (custom_id a)"),
                Arguments.of("lower-case post", utf8("{\"custom_id\": \"a\", \"method\": \"post\"}"),
                        DeadLetterReason.BAD_METHOD, "got the string \"post\""),
                Arguments.of("no method", utf8("{\"custom_id\": \"a\", \"url\": \"/v1/completions\"}"),
                        DeadLetterReason.BAD_METHOD, "got no method"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformed")
    void aRecordThatIsNotABatchLineIsDeadLetteredWithItsReason(String name, byte[] value, DeadLetterReason kind,
                                                               String detail) {
        BatchInput.Malformed m = assertInstanceOf(BatchInput.Malformed.class, BatchInput.parse(value));
        assertEquals(kind, m.kind());
        assertTrue(m.reason().startsWith(kind.code() + ": "), m.reason());
        assertTrue(m.reason().contains(detail), () -> "reason \"" + m.reason() + "\" lacks \"" + detail + "\"");
    }
}
