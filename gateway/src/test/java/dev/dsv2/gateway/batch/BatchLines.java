package dev.dsv2.gateway.batch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Builds Batch API input lines as records, and reads output lines back, for the batch tests. */
final class BatchLines {
    static final ObjectMapper JSON = new ObjectMapper();

    private BatchLines() {
    }

    static ObjectNode json(String text) {
        try {
            return (ObjectNode) JSON.readTree(text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code {"custom_id", "method": "POST", "url", "body"}}, keyed by custom_id. */
    static ProducerRecord<byte[], byte[]> line(String topic, String customId, String url, JsonNode body) {
        ObjectNode line = JSON.createObjectNode();
        line.put("custom_id", customId);
        line.put("method", "POST");
        line.put("url", url);
        line.set("body", body);
        return raw(topic, customId, line.toString());
    }

    static ProducerRecord<byte[], byte[]> raw(String topic, String key, String value) {
        return new ProducerRecord<>(topic, key == null ? null : utf8(key), value == null ? null : utf8(value));
    }

    /** A completions body: greedy, {@code maxTokens} tokens. */
    static ObjectNode completion(String model, String prompt, int maxTokens) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", model);
        body.put("prompt", prompt);
        body.put("max_tokens", maxTokens);
        body.put("temperature", 0);
        return body;
    }

    /** A chat body with one user message: greedy, {@code maxTokens} tokens. */
    static ObjectNode chat(String model, String content, int maxTokens) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", model);
        body.putArray("messages").addObject().put("role", "user").put("content", content);
        body.put("max_tokens", maxTokens);
        body.put("temperature", 0);
        return body;
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String string(byte[] bytes) {
        return bytes == null ? null : new String(bytes, StandardCharsets.UTF_8);
    }

    /** Output lines by custom_id (the record key), failing on a second result for one custom_id. */
    static Map<String, JsonNode> byCustomId(List<ConsumerRecord<byte[], byte[]>> results) {
        Map<String, JsonNode> lines = new LinkedHashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : results) {
            try {
                JsonNode line = JSON.readTree(r.value());
                if (lines.put(string(r.key()), line) != null) {
                    throw new AssertionError("two results for custom_id " + string(r.key()));
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return lines;
    }

    /** The header's value as a string, or null. */
    static String header(ConsumerRecord<byte[], byte[]> record, String name) {
        var h = record.headers().lastHeader(name);
        return h == null ? null : string(h.value());
    }
}
