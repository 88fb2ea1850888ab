package dev.dsv2.gateway.batch;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dsv2.gateway.openai.OpenAiResponse;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

import java.util.Optional;

import static dev.dsv2.gateway.batch.BatchLines.json;
import static dev.dsv2.gateway.batch.BatchLines.string;
import static dev.dsv2.gateway.batch.BatchLines.utf8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Batch API output line and the dead letter, byte for byte where it matters. */
class BatchOutputTest {
    static ConsumerRecord<byte[], byte[]> input(int partition, long offset, String key, String value) {
        RecordHeaders headers = new RecordHeaders();
        headers.add("trace-id", utf8("abc"));
        return new ConsumerRecord<>("dsv2.batch.requests", partition, offset, 0L, TimestampType.CREATE_TIME,
                key == null ? 0 : key.length(), value == null ? 0 : value.length(), key == null ? null : utf8(key),
                value == null ? null : utf8(value), headers, Optional.empty());
    }

    static JsonNode value(ProducerRecord<byte[], byte[]> record) throws Exception {
        return BatchLines.JSON.readTree(record.value());
    }

    @Test
    void aResultIsTheBatchOutputLineKeyedByCustomIdWithTheApiBodyAsIs() throws Exception {
        JsonNode body = json("{\"id\": \"cmpl-1\", \"object\": \"text_completion\", \"choices\": []}");
        ProducerRecord<byte[], byte[]> r = BatchOutput.result("results", input(2, 41, "k", "{}"), "req-7",
                new OpenAiResponse(200, body), 1 << 20);
        assertEquals("results", r.topic());
        assertNull(r.partition(), "the partition follows the key");
        assertEquals("req-7", string(r.key()));
        JsonNode line = value(r);
        assertEquals(4, line.size(), line::toString);
        assertTrue(line.get("id").asText().matches("batch_req_[0-9a-f]{32}"), line::toString);
        assertEquals("req-7", line.get("custom_id").asText());
        assertEquals(200, line.at("/response/status_code").asInt());
        assertTrue(line.at("/response/request_id").asText().matches("req_[0-9a-f]{32}"), line::toString);
        assertEquals(body, line.at("/response/body"));
        assertTrue(line.get("error").isNull(), "error is for non-HTTP failures only");
    }

    @Test
    void theIdsNameTheInputRecordSoEveryDeliveryOfItGetsTheSameIds() throws Exception {
        OpenAiResponse ok = new OpenAiResponse(200, json("{}"));
        JsonNode first = value(BatchOutput.result("r", input(0, 5, "a", "{}"), "a", ok, 1 << 20));
        JsonNode again = value(BatchOutput.result("r", input(0, 5, "a", "{}"), "a", ok, 1 << 20));
        JsonNode next = value(BatchOutput.result("r", input(0, 6, "a", "{}"), "a", ok, 1 << 20));
        assertEquals(first.get("id"), again.get("id"));
        assertEquals(first.at("/response/request_id"), again.at("/response/request_id"));
        assertNotEquals(first.get("id"), next.get("id"));
    }

    @Test
    void anErrorResponseKeepsItsStatusAndOpenAiErrorBodyAndLeavesErrorNull() throws Exception {
        OpenAiResponse notFound = BatchOutput.badUrl("/v1/embeddings");
        JsonNode line = value(BatchOutput.result("r", input(0, 1, "a", "{}"), "a", notFound, 1 << 20));
        assertEquals(404, line.at("/response/status_code").asInt());
        assertEquals("Invalid URL (POST /v1/embeddings)", line.at("/response/body/error/message").asText());
        assertEquals("invalid_request_error", line.at("/response/body/error/type").asText());
        assertTrue(line.get("error").isNull());

        OpenAiResponse noUrl = BatchOutput.badUrl(null);
        assertEquals(400, noUrl.status());
        assertEquals("url", noUrl.body().at("/error/param").asText());
        assertTrue(noUrl.body().at("/error/message").asText().contains("\"/v1/chat/completions\", \"/v1/completions\""),
                noUrl.body()::toString);
    }

    @Test
    void aResultTooLargeForOneRecordBecomesA500ThatSaysSo() throws Exception {
        JsonNode big = json("{\"text\": \"" + "x".repeat(5000) + "\"}");
        JsonNode line = value(BatchOutput.result("r", input(0, 1, "a", "{}"), "a", new OpenAiResponse(200, big),
                2048));
        assertEquals(500, line.at("/response/status_code").asInt());
        assertEquals(BatchOutput.RESULT_TOO_LARGE, line.at("/response/body/error/code").asText());
        assertTrue(line.at("/response/body/error/message").asText().contains("max.request.size"), line::toString);
    }

    @Test
    void aDeadLetterIsTheInputUnchangedWithItsReasonAndSourceInHeaders() {
        ConsumerRecord<byte[], byte[]> in = input(3, 99, "key-1", "not json");
        ProducerRecord<byte[], byte[]> dl = BatchOutput.deadLetter("dlq", in, "not_json: Unrecognized token");
        assertEquals("dlq", dl.topic());
        assertArrayEquals(in.key(), dl.key());
        assertArrayEquals(in.value(), dl.value());
        assertEquals("abc", string(dl.headers().lastHeader("trace-id").value()), "the input's headers are kept");
        assertEquals("not_json: Unrecognized token", string(dl.headers().lastHeader("dsv2.dlq.reason").value()));
        assertEquals("dsv2.batch.requests", string(dl.headers().lastHeader("dsv2.dlq.source.topic").value()));
        assertEquals("3", string(dl.headers().lastHeader("dsv2.dlq.source.partition").value()));
        assertEquals("99", string(dl.headers().lastHeader("dsv2.dlq.source.offset").value()));

        ProducerRecord<byte[], byte[]> tombstone = BatchOutput.deadLetter("dlq", input(0, 1, null, null), "empty: x");
        assertNull(tombstone.key());
        assertNull(tombstone.value());
    }
}
