package dev.dsv2.gateway.batch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.gateway.core.GenerationService;
import dev.dsv2.gateway.core.InFlightLimit;
import dev.dsv2.gateway.core.ServingObserver;
import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.openai.Endpoint;
import dev.dsv2.gateway.openai.OpenAiApi;
import dev.dsv2.gateway.openai.OpenAiResponse;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BooleanSupplier;

import static dev.dsv2.gateway.batch.BatchLines.chat;
import static dev.dsv2.gateway.batch.BatchLines.completion;
import static dev.dsv2.gateway.batch.BatchLines.header;
import static dev.dsv2.gateway.batch.BatchLines.json;
import static dev.dsv2.gateway.batch.BatchLines.line;
import static dev.dsv2.gateway.batch.BatchLines.raw;
import static dev.dsv2.gateway.batch.BatchLines.string;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The batch consumer against a real KRaft broker started here, on the demo model (tiny preset, real tokenizer):
 * results equal to the HTTP API's answers, dead letters with their reasons, exactly once across a crash, and
 * requests that wait for the model to load.
 */
class BatchProcessorTest {
    static final Duration TIMEOUT = Duration.ofSeconds(90);
    /** The example input file of the README (the working directory is the gateway module). */
    static final Path EXAMPLE = Path.of("../examples/batch-requests.jsonl");
    static KafkaTestBroker broker;
    static OpenAiApi api;
    static String model;

    @BeforeAll
    static void start() throws Exception {
        broker = KafkaTestBroker.start();
        api = BatchTestModel.api();
        model = BatchTestModel.served().name();
    }

    @AfterAll
    static void stop() throws Exception {
        if (broker != null) {
            broker.close();
        }
    }

    /** Fresh topics, group and transactional.id for one test. */
    static BatchSettings settings(TestInfo test, int partitions) throws Exception {
        String name = test.getTestMethod().orElseThrow().getName();
        broker.createTopic(name + ".requests", partitions);
        broker.createTopic(name + ".results", partitions);
        broker.createTopic(name + ".dlq", 1);
        return BatchSettings.defaults(broker.bootstrapServers())
                .withTopics(name + ".requests", name + ".results", name + ".dlq")
                .withGroup(name + "-group", name + "-tx")
                .withCommitInterval(Duration.ofMillis(50));
    }

    static double count(SimpleMeterRegistry registry, String name) {
        return registry.get(name).counter().count();
    }

    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out waiting for " + what);
            }
            Thread.sleep(50);
        }
    }

    /** What the HTTP API answers for {@code body}, as interactive traffic. */
    static OpenAiResponse http(Endpoint endpoint, JsonNode body) throws Exception {
        return api.complete(endpoint, body, null).toCompletableFuture().get();
    }

    /** A success body without its per-call id and timestamp. */
    static JsonNode comparable(JsonNode body) {
        ObjectNode copy = body.deepCopy();
        copy.remove(List.of("id", "created"));
        return copy;
    }

    @Test
    void everyLineGetsOneResultWithTheBodyTheHttpApiAnswers(TestInfo test) throws Exception {
        BatchSettings s = settings(test, 2);
        int contextLimit = BatchTestModel.served().contextLimit();
        ObjectNode tooLong = completion(model, "x", 4);
        var ids = tooLong.putArray("prompt");
        for (int i = 0; i < contextLimit; i++) {
            ids.add(100);
        }
        ObjectNode stream = completion(model, "streamed", 4);
        stream.put("stream", true);
        Map<String, String> urls = Map.of("chat-ok", "/v1/chat/completions", "completion-ok", "/v1/completions",
                "negative-max-tokens", "/v1/completions", "prompt-too-long", "/v1/completions",
                "unknown-model", "/v1/chat/completions", "stream", "/v1/completions",
                "body-not-an-object", "/v1/chat/completions");
        Map<String, JsonNode> bodies = Map.of(
                "chat-ok", chat(model, "Hello there, how are you?", 6),
                "completion-ok", completion(model, "The quick brown fox", 5),
                "negative-max-tokens", completion(model, "hi", -3),
                "prompt-too-long", tooLong,
                "unknown-model", chat("gpt-4o-mini", "hi", 4),
                "stream", stream,
                "body-not-an-object", json("{\"b\": \"just text\"}").get("b"));
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
        bodies.forEach((id, body) -> records.add(line(s.requestsTopic(), id, urls.get(id), body)));
        records.add(line(s.requestsTopic(), "unknown-url", "/v1/embeddings", json("{\"model\": \"m\"}")));
        records.add(raw(s.requestsTopic(), "no-url", "{\"custom_id\": \"no-url\", \"method\": \"POST\", "
                + "\"body\": {\"model\": \"m\"}}"));
        broker.produce(records);

        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (BatchProcessor processor = new BatchProcessor(s, api, new BatchMetrics(registry))) {
            processor.start();
            await("9 results", () -> count(registry, "dsv2.batch.records.produced") == 9);
            assertEquals(9, count(registry, "dsv2.batch.records.consumed"));
            assertEquals(7, count(registry, "dsv2.batch.records.failed"), "all but the two ok lines");
            assertEquals(0, count(registry, "dsv2.batch.records.dead.lettered"));
        }

        Map<String, JsonNode> results = BatchLines.byCustomId(broker.readToEnd(s.resultsTopic(), true));
        assertEquals(Set.of("chat-ok", "completion-ok", "negative-max-tokens", "prompt-too-long", "unknown-model",
                "stream", "body-not-an-object", "unknown-url", "no-url"), results.keySet());
        results.forEach((id, line) -> {
            assertEquals(id, line.get("custom_id").asText());
            assertTrue(line.get("id").asText().startsWith("batch_req_"), line::toString);
            assertTrue(line.get("error").isNull(), line::toString);
        });
        for (String id : bodies.keySet()) {
            OpenAiResponse expected = http(Endpoint.ofPath(urls.get(id)), bodies.get(id));
            JsonNode actual = results.get(id).get("response");
            assertEquals(expected.status(), actual.get("status_code").asInt(), id);
            if (expected.ok()) {
                assertEquals(comparable(expected.body()), comparable(actual.get("body")), id);
            } else {
                assertEquals(expected.body(), actual.get("body"), id);
            }
        }
        assertEquals("chat.completion", results.get("chat-ok").at("/response/body/object").asText());
        assertEquals("text_completion", results.get("completion-ok").at("/response/body/object").asText());
        assertEquals(5, results.get("completion-ok").at("/response/body/usage/completion_tokens").asInt());
        assertEquals("max_tokens", results.get("negative-max-tokens").at("/response/body/error/param").asText());
        assertEquals("context_length_exceeded",
                results.get("prompt-too-long").at("/response/body/error/code").asText());
        assertEquals(404, results.get("unknown-model").at("/response/status_code").asInt());
        assertEquals("model_not_found", results.get("unknown-model").at("/response/body/error/code").asText());
        assertEquals(400, results.get("stream").at("/response/status_code").asInt());
        assertEquals(400, results.get("body-not-an-object").at("/response/status_code").asInt());
        assertEquals(404, results.get("unknown-url").at("/response/status_code").asInt());
        assertEquals("Invalid URL (POST /v1/embeddings)",
                results.get("unknown-url").at("/response/body/error/message").asText());
        assertEquals(400, results.get("no-url").at("/response/status_code").asInt());
        assertEquals("url", results.get("no-url").at("/response/body/error/param").asText());
        assertTrue(broker.readToEnd(s.dlqTopic(), true).isEmpty());
    }

    @Test
    void recordsThatAreNotBatchLinesAreDeadLetteredWithTheirReasonAndTheRestGoesOn(TestInfo test) throws Exception {
        BatchSettings s = settings(test, 1);
        String t = s.requestsTopic();
        ProducerRecord<byte[], byte[]> withHeader = raw(t, "k-text", "hello");
        withHeader.headers().add(new RecordHeader("trace-id", BatchLines.utf8("t-1")));
        List<ProducerRecord<byte[], byte[]>> records = List.of(
                raw(t, "k-null", null),
                new ProducerRecord<>(t, BatchLines.utf8("k-bytes"), new byte[]{'{', (byte) 0xC3, (byte) 0x28, '}'}),
                withHeader,
                raw(t, "k-array", "[1, 2]"),
                line(t, "valid", "/v1/completions", completion(model, "Once upon a time", 3)),
                raw(t, "k-no-id", "{\"method\": \"POST\", \"url\": \"/v1/completions\", \"body\": {}}"),
                raw(t, null, "{\"custom_id\": \" \", \"method\": \"POST\"}"),
                raw(t, "k-get", "{\"custom_id\": \"k-get\", \"method\": \"GET\", \"url\": \"/v1/models\"}"));
        List<String> reasons = List.of("empty", "not_utf8", "not_json", "not_object", "", "bad_custom_id",
                "bad_custom_id", "bad_method");
        broker.produce(records);

        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (BatchProcessor processor = new BatchProcessor(s, api, new BatchMetrics(registry))) {
            processor.start();
            await("7 dead letters and 1 result", () -> count(registry, "dsv2.batch.records.dead.lettered") == 7
                    && count(registry, "dsv2.batch.records.produced") == 1);
            assertEquals(8, count(registry, "dsv2.batch.records.consumed"));
        }

        List<ConsumerRecord<byte[], byte[]>> dead = broker.readToEnd(s.dlqTopic(), true);
        assertEquals(7, dead.size());
        int d = 0;
        for (int offset = 0; offset < records.size(); offset++) {
            if (reasons.get(offset).isEmpty()) {
                continue;
            }
            ConsumerRecord<byte[], byte[]> letter = dead.get(d++);
            ProducerRecord<byte[], byte[]> input = records.get(offset);
            assertArrayEquals(input.key(), letter.key(), "key of offset " + offset);
            assertArrayEquals(input.value(), letter.value(), "value of offset " + offset);
            String reason = header(letter, "dsv2.dlq.reason");
            assertTrue(reason != null && reason.startsWith(reasons.get(offset) + ": "), "offset " + offset + ": "
                    + reason);
            assertEquals(t, header(letter, "dsv2.dlq.source.topic"));
            assertEquals("0", header(letter, "dsv2.dlq.source.partition"));
            assertEquals(Integer.toString(offset), header(letter, "dsv2.dlq.source.offset"));
        }
        assertEquals("t-1", header(dead.get(2), "trace-id"), "the input's own headers travel along");
        assertNull(dead.getFirst().value(), "a tombstone stays a tombstone");

        Map<String, JsonNode> results = BatchLines.byCustomId(broker.readToEnd(s.resultsTopic(), true));
        assertEquals(Set.of("valid"), results.keySet());
        assertEquals(200, results.get("valid").at("/response/status_code").asInt());
    }

    @Test
    void aProcessorKilledMidTransactionLeavesExactlyOneResultPerRequest(TestInfo test) throws Exception {
        BatchSettings s = settings(test, 3);
        int n = 200;
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String id = "req-%03d".formatted(i);
            records.add(i % 5 == 0
                    ? line(s.requestsTopic(), id, "/v1/chat/completions", chat(model, "Question " + i + "?", 4))
                    : line(s.requestsTopic(), id, "/v1/completions", completion(model, "Batch line " + i, 4)));
        }
        broker.produce(records);

        // The first instance dies at its third transaction: results sent and flushed, offsets added, no commit.
        SimpleMeterRegistry first = new SimpleMeterRegistry();
        java.util.concurrent.atomic.AtomicReference<CrashingProducer> producer = new java.util.concurrent.atomic.AtomicReference<>();
        BatchProcessor crashed = new BatchProcessor(s, api, new BatchMetrics(first), config -> {
            producer.set(new CrashingProducer(config, 3));
            return producer.get();
        });
        crashed.start();
        assertTrue(crashed.awaitStopped(TIMEOUT), "the first instance did not reach its third transaction");
        assertTrue(producer.get().crashed(), "stopped by the simulated crash");
        assertEquals(BatchProcessor.State.FAILED, crashed.state());
        assertTrue(crashed.failure().orElseThrow().getMessage().contains("simulated crash"));
        int committedBefore = (int) count(first, "dsv2.batch.records.produced");
        assertTrue(committedBefore > 0 && committedBefore < n, "committed before the crash: " + committedBefore);
        int visible = broker.readToEnd(s.resultsTopic(), true).size();
        assertEquals(committedBefore, visible, "read_committed sees only the committed transactions");

        // A fresh instance with the same transactional.id aborts the open transaction and finishes the job.
        SimpleMeterRegistry second = new SimpleMeterRegistry();
        try (BatchProcessor fresh = new BatchProcessor(s, api, new BatchMetrics(second))) {
            fresh.start();
            await("the rest of the results", () -> count(second, "dsv2.batch.records.produced") == n - committedBefore);
        }

        List<ConsumerRecord<byte[], byte[]>> committed = broker.readToEnd(s.resultsTopic(), true);
        List<ConsumerRecord<byte[], byte[]>> everything = broker.readToEnd(s.resultsTopic(), false);
        assertTrue(everything.size() > n, "the aborted transaction's results are in the log (" + everything.size()
                + " records), and read_committed skips them");
        assertEquals(n, committed.size(), "exactly one result per request");
        Map<String, JsonNode> results = BatchLines.byCustomId(committed);
        Set<String> lineIds = new HashSet<>();
        for (int i = 0; i < n; i++) {
            JsonNode line = results.get("req-%03d".formatted(i));
            assertEquals(200, line.at("/response/status_code").asInt(), line::toString);
            assertTrue(lineIds.add(line.get("id").asText()));
        }
        for (int i : new int[]{0, 1, 77, 150, 199}) {
            ProducerRecord<byte[], byte[]> input = records.get(i);
            JsonNode sent = BatchLines.JSON.readTree(input.value());
            OpenAiResponse expected = http(Endpoint.ofPath(sent.get("url").asText()), sent.get("body"));
            assertEquals(comparable(expected.body()), comparable(results.get(string(input.key()))
                    .at("/response/body")), "result of " + string(input.key()));
        }
        assertTrue(broker.readToEnd(s.dlqTopic(), true).isEmpty());
    }

    @Test
    void theReadmesExampleJobRuns(TestInfo test) throws Exception {
        BatchSettings s = settings(test, 2);
        List<String> lines = Files.readAllLines(EXAMPLE).stream().filter(l -> !l.isBlank())
                .map(l -> l.replace("\"model\": \"MODEL\"", "\"model\": \"" + model + "\"")).toList();
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
        for (String l : lines) {
            records.add(raw(s.requestsTopic(), BatchLines.json(l).get("custom_id").asText(), l));
        }
        broker.produce(records);
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (BatchProcessor processor = new BatchProcessor(s, api, new BatchMetrics(registry))) {
            processor.start();
            await("the example's results", () -> count(registry, "dsv2.batch.records.produced") == lines.size());
        }
        Map<String, JsonNode> results = BatchLines.byCustomId(broker.readToEnd(s.resultsTopic(), true));
        assertEquals(6, results.size());
        results.forEach((id, line) -> assertEquals(id.startsWith("invalid") ? 400 : 200,
                line.at("/response/status_code").asInt(), line::toString));
        assertEquals(2, results.get("completion-2").at("/response/body/choices").size(), "two prompts, two choices");
        assertTrue(results.get("chat-3").at("/response/body/choices/0/logprobs/content").isArray());
    }

    @Test
    void linesArrivingWhileTheModelLoadsWaitForItInsteadOfFailing(TestInfo test) throws Exception {
        BatchSettings s = settings(test, 1);
        broker.produce(List.of(line(s.requestsTopic(), "early-1", "/v1/completions", completion(model, "a", 2)),
                line(s.requestsTopic(), "early-2", "/v1/chat/completions", chat(model, "b", 2))));
        ModelHost loading = new ModelHost(BatchTestModel.SETTINGS);
        OpenAiApi loadingApi = new OpenAiApi(new GenerationService(loading, ServingObserver.NONE),
                InFlightLimit.unlimited("test"));
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (BatchProcessor processor = new BatchProcessor(s, loadingApi, new BatchMetrics(registry))) {
            processor.start();
            await("both lines read", () -> count(registry, "dsv2.batch.records.consumed") >= 2);
            Thread.sleep(500);
            assertEquals(0, count(registry, "dsv2.batch.records.produced"), "503 (loading) is not a result");
            assertEquals(BatchProcessor.State.RUNNING, processor.state());
            loading.load();
            await("both results", () -> count(registry, "dsv2.batch.records.produced") == 2);
        } finally {
            loading.close();
        }
        Map<String, JsonNode> results = BatchLines.byCustomId(broker.readToEnd(s.resultsTopic(), true));
        assertEquals(200, results.get("early-1").at("/response/status_code").asInt());
        assertEquals(200, results.get("early-2").at("/response/status_code").asInt());
    }
}
