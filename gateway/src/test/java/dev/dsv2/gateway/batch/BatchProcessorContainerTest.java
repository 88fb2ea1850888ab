package dev.dsv2.gateway.batch;

import com.fasterxml.jackson.databind.JsonNode;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.kafka.KafkaContainer;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static dev.dsv2.gateway.batch.BatchLines.chat;
import static dev.dsv2.gateway.batch.BatchLines.completion;
import static dev.dsv2.gateway.batch.BatchLines.header;
import static dev.dsv2.gateway.batch.BatchLines.line;
import static dev.dsv2.gateway.batch.BatchLines.raw;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The batch consumer against Apache Kafka's own broker image (Testcontainers), where Docker is available; skipped
 * cleanly where it is not. The in-JVM broker of {@link BatchProcessorTest} covers the same ground everywhere.
 */
@Testcontainers(disabledWithoutDocker = true)
class BatchProcessorContainerTest {
    @Container
    static final KafkaContainer KAFKA = new KafkaContainer("apache/kafka:4.1.0");

    @Test
    void aSmallJobRoundTripsThroughABrokerContainer() throws Exception {
        String bootstrap = KAFKA.getBootstrapServers();
        KafkaTestBroker.createTopic(bootstrap, "c.requests", 2);
        KafkaTestBroker.createTopic(bootstrap, "c.results", 2);
        KafkaTestBroker.createTopic(bootstrap, "c.dlq", 1);
        String model = BatchTestModel.served().name();
        KafkaTestBroker.produce(bootstrap, List.of(
                line("c.requests", "a", "/v1/completions", completion(model, "Hello", 3)),
                line("c.requests", "b", "/v1/chat/completions", chat(model, "Hi", 3)),
                line("c.requests", "c", "/v1/completions", completion("no-such-model", "Hello", 3)),
                raw("c.requests", "d", "not a batch line")));
        BatchSettings settings = BatchSettings.defaults(bootstrap).withTopics("c.requests", "c.results", "c.dlq")
                .withGroup("c-group", "c-tx").withCommitInterval(Duration.ofMillis(50));
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (BatchProcessor processor = new BatchProcessor(settings, BatchTestModel.api(), new BatchMetrics(registry))) {
            processor.start();
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (registry.get("dsv2.batch.records.produced").counter().count() < 3
                    || registry.get("dsv2.batch.records.dead.lettered").counter().count() < 1) {
                assertTrue(System.nanoTime() < deadline, "timed out waiting for the job");
                Thread.sleep(50);
            }
        }
        Map<String, JsonNode> results = BatchLines.byCustomId(KafkaTestBroker.readToEnd(bootstrap, "c.results", true));
        assertEquals(200, results.get("a").at("/response/status_code").asInt());
        assertEquals(200, results.get("b").at("/response/status_code").asInt());
        assertEquals(404, results.get("c").at("/response/status_code").asInt());
        List<ConsumerRecord<byte[], byte[]>> dead = KafkaTestBroker.readToEnd(bootstrap, "c.dlq", true);
        assertEquals(1, dead.size());
        assertTrue(header(dead.getFirst(), "dsv2.dlq.reason").startsWith("not_json: "));
    }
}
