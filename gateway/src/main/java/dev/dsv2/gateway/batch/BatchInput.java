package dev.dsv2.gateway.batch;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * One record of the requests topic, read as a line of the OpenAI Batch API input format:
 * <pre>{"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions", "body": {...}}</pre>
 * {@link #parse} sorts every record into one of two kinds:
 * <ul>
 *   <li>{@link Request}: the record has the shape of a batch line (a UTF-8 JSON object with a non-blank string
 *       {@code custom_id} and {@code "method": "POST"}). It always yields a result addressed to its custom_id, even
 *       when its url or body is invalid: that result carries the HTTP error the API would have answered.</li>
 *   <li>{@link Malformed}: not even that shape, so no result can be addressed; it goes to the dead-letter topic with
 *       the {@link Malformed#reason()} in a header.</li>
 * </ul>
 * The record key is not consulted: producers key lines by custom_id so that a job's lines spread over partitions,
 * but the line's own custom_id is the one that addresses its result.
 */
public sealed interface BatchInput {
    /** The only HTTP method of the Batch API. */
    String METHOD = "POST";

    /**
     * A batch line to run.
     *
     * @param customId the caller's id, echoed in the result and used as the result record's key
     * @param url      the endpoint path as given ({@code /v1/chat/completions}, {@code /v1/completions}); null when
     *                 the line has no string url (answered with a 400)
     * @param body     the request body as given (validated by the API, like an HTTP request body); null when absent
     */
    record Request(String customId, String url, JsonNode body) implements BatchInput {
    }

    /**
     * A record that is not a batch line.
     *
     * @param reason why, for the {@code dsv2.dlq.reason} header: a {@link DeadLetterReason} code, a colon, and the
     *               detail a user needs to find the fault (e.g. {@code not_json: Unexpected character ('h' ...)})
     */
    record Malformed(DeadLetterReason kind, String reason) implements BatchInput {
        static Malformed of(DeadLetterReason kind, String detail) {
            return new Malformed(kind, kind.code() + ": " + detail);
        }
    }

    /** Why a record went to the dead-letter topic. */
    enum DeadLetterReason {
        /** The record has no value (a tombstone). */
        EMPTY("empty"),
        /** The value is not valid UTF-8. */
        NOT_UTF8("not_utf8"),
        /** The value is not one JSON document. */
        NOT_JSON("not_json"),
        /** The value is JSON but not an object. */
        NOT_OBJECT("not_object"),
        /** No {@code custom_id}, or not a non-blank string. */
        BAD_CUSTOM_ID("bad_custom_id"),
        /** No {@code method}, or not {@code "POST"}. */
        BAD_METHOD("bad_method");

        private final String code;

        DeadLetterReason(String code) {
            this.code = code;
        }

        /** The stable prefix of the reason header. */
        public String code() {
            return code;
        }
    }

    /** Reads a requests-topic record value (may be null). */
    static BatchInput parse(byte[] value) {
        if (value == null || value.length == 0) {
            return Malformed.of(DeadLetterReason.EMPTY, value == null ? "the record has no value (null)"
                    : "the record value is empty (0 bytes)");
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(value)).toString();
        } catch (CharacterCodingException e) {
            return Malformed.of(DeadLetterReason.NOT_UTF8, "the value (" + value.length + " bytes) is not valid "
                    + "UTF-8 (" + e + ")");
        }
        JsonNode line;
        try {
            line = BatchJson.MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            return Malformed.of(DeadLetterReason.NOT_JSON, "the value is not a JSON document: "
                    + e.getOriginalMessage() + location(e));
        }
        if (line == null || line.isMissingNode()) {
            return Malformed.of(DeadLetterReason.NOT_JSON, "the value holds no JSON document (only whitespace)");
        }
        if (!line.isObject()) {
            return Malformed.of(DeadLetterReason.NOT_OBJECT, "a batch line is a JSON object "
                    + "{\"custom_id\", \"method\", \"url\", \"body\"}, got " + describe(line));
        }
        JsonNode id = line.get("custom_id");
        if (id == null || id.isNull()) {
            return Malformed.of(DeadLetterReason.BAD_CUSTOM_ID, "the line has no custom_id");
        }
        if (!id.isTextual() || id.asText().isBlank()) {
            return Malformed.of(DeadLetterReason.BAD_CUSTOM_ID, "custom_id must be a non-blank string, got "
                    + describe(id));
        }
        JsonNode method = line.get("method");
        if (method == null || !method.isTextual() || !method.asText().equals(METHOD)) {
            return Malformed.of(DeadLetterReason.BAD_METHOD, "method must be \"POST\", got "
                    + (method == null ? "no method" : describe(method)) + " (custom_id " + id.asText() + ")");
        }
        JsonNode url = line.get("url");
        return new Request(id.asText(), url != null && url.isTextual() ? url.asText() : null, line.get("body"));
    }

    private static String location(JsonProcessingException e) {
        return e.getLocation() == null ? ""
                : " (line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")";
    }

    /** A short description of a JSON value for error messages: its type and, when small, the value. */
    private static String describe(JsonNode node) {
        String type = switch (node.getNodeType()) {
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            case STRING -> "the string";
            case NUMBER -> "the number";
            case BOOLEAN -> "the boolean";
            case NULL -> "null";
            default -> node.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
        };
        if (node.isContainerNode() || node.isNull()) {
            return type;
        }
        String v = node.toString();
        return type + " " + (v.length() > 60 ? v.substring(0, 60) + "..." : v);
    }
}
