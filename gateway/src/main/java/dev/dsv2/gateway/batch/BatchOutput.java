package dev.dsv2.gateway.batch;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.openai.Endpoint;
import dev.dsv2.gateway.openai.OpenAiErrors;
import dev.dsv2.gateway.openai.OpenAiResponse;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.UUID;
import java.util.stream.Collectors;

/**
 * What the batch consumer writes: result records in the OpenAI Batch API output format, and dead letters.
 *
 * <p>A result line, keyed by its custom_id:
 * <pre>{"id": "batch_req_...", "custom_id": "req-1",
 *  "response": {"status_code": 200, "request_id": "req_...", "body": {...}}, "error": null}</pre>
 * {@code response.body} is exactly what the HTTP endpoint would have answered for the line's body: a
 * {@code chat.completion} / {@code text_completion}, or for a request the API refuses (unknown url, bad parameter,
 * prompt too long, unknown model) OpenAI's error object {@code {"error": {"message","type","param","code"}}} with
 * its status (400, 404). As in OpenAI's own output and error files, {@code error} is reserved for failures that are
 * not HTTP responses (OpenAI's {@code batch_expired}, {@code batch_cancelled}); this server has none, so it is
 * always null. (vLLM's {@code run_batch} differs: it moves an error response into {@code error} and leaves
 * {@code body} null.)
 *
 * <p>{@code id} and {@code request_id} are derived from the input record's topic, partition and offset, so every
 * delivery of one input yields the same ids: a consumer that reads uncommitted data can still de-duplicate.
 *
 * <p>A dead letter is the input record unchanged (key, value, headers) plus headers {@value #REASON},
 * {@value #SOURCE_TOPIC}, {@value #SOURCE_PARTITION} and {@value #SOURCE_OFFSET} (UTF-8 strings).
 */
final class BatchOutput {
    static final String REASON = "dsv2.dlq.reason";
    static final String SOURCE_TOPIC = "dsv2.dlq.source.topic";
    static final String SOURCE_PARTITION = "dsv2.dlq.source.partition";
    static final String SOURCE_OFFSET = "dsv2.dlq.source.offset";
    /** {@code code} of the error result that replaces a response too large for one Kafka record. */
    static final String RESULT_TOO_LARGE = "result_too_large";

    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private BatchOutput() {
    }

    /** The Batch API output line of {@code input} answered with {@code response}. */
    static ObjectNode line(ConsumerRecord<byte[], byte[]> input, String customId, OpenAiResponse response) {
        String hex = recordHex(input);
        ObjectNode line = F.objectNode();
        line.put("id", "batch_req_" + hex);
        line.put("custom_id", customId);
        ObjectNode r = line.putObject("response");
        r.put("status_code", response.status());
        r.put("request_id", "req_" + hex);
        r.set("body", response.body());
        line.putNull("error");
        return line;
    }

    /**
     * The result record of {@code input}; a line over {@code maxBytes} is replaced by a 500 {@value #RESULT_TOO_LARGE}
     * error line, so that an oversized answer cannot block the partition.
     */
    static ProducerRecord<byte[], byte[]> result(String topic, ConsumerRecord<byte[], byte[]> input, String customId,
                                                 OpenAiResponse response, int maxBytes) {
        byte[] value = BatchJson.bytes(line(input, customId, response));
        if (value.length > maxBytes) {
            OpenAiResponse tooLarge = OpenAiErrors.response(new ApiError(ApiError.Kind.INTERNAL, null,
                    RESULT_TOO_LARGE, "the response (" + value.length + " bytes as a batch line) exceeds the largest "
                    + "record the results topic accepts (" + maxBytes + " bytes, from the producer's max.request.size); "
                    + "lower max_tokens or n, or raise kafka.max.request.size and the topic's max.message.bytes"));
            value = BatchJson.bytes(line(input, customId, tooLarge));
        }
        return new ProducerRecord<>(topic, null, customId.getBytes(StandardCharsets.UTF_8), value);
    }

    /** The dead letter of a record that is not a batch line. */
    static ProducerRecord<byte[], byte[]> deadLetter(String topic, ConsumerRecord<byte[], byte[]> input,
                                                     String reason) {
        RecordHeaders headers = new RecordHeaders();
        for (Header h : input.headers()) {
            headers.add(h);
        }
        headers.add(REASON, utf8(reason));
        headers.add(SOURCE_TOPIC, utf8(input.topic()));
        headers.add(SOURCE_PARTITION, utf8(Integer.toString(input.partition())));
        headers.add(SOURCE_OFFSET, utf8(Long.toString(input.offset())));
        return new ProducerRecord<>(topic, null, input.key(), input.value(), headers);
    }

    /**
     * The answer to a line whose url is not a generation endpoint, as the HTTP API answers it: 404 for an unknown
     * path (the same error as {@code POST} to an unknown {@code /v1/...} route), 400 when there is no url at all.
     */
    static OpenAiResponse badUrl(String url) {
        if (url == null) {
            return OpenAiErrors.response(ApiError.invalid("url", "the batch line has no url: use one of "
                    + supportedUrls()));
        }
        return OpenAiErrors.response(new ApiError(ApiError.Kind.NOT_FOUND, null, null,
                "Invalid URL (" + BatchInput.METHOD + " " + url + ")"));
    }

    static String supportedUrls() {
        return Arrays.stream(Endpoint.values()).map(e -> "\"" + e.path() + "\"").collect(Collectors.joining(", "));
    }

    /** 32 hex digits that name the record (topic, partition, offset) in every delivery. */
    private static String recordHex(ConsumerRecord<byte[], byte[]> input) {
        return UUID.nameUUIDFromBytes(utf8(input.topic() + "/" + input.partition() + "/" + input.offset()))
                .toString().replace("-", "");
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
