package dev.dsv2.gateway.batch;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dsv2.gateway.model.ModelHost;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.dsv2.gateway.batch.BatchLines.completion;
import static dev.dsv2.gateway.batch.BatchLines.line;
import static dev.dsv2.gateway.batch.BatchLines.raw;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The gateway with {@code dsv2.kafka.enabled=true}: the configured consumer runs on the default topics once the model
 * is loaded, and its metrics are on {@code /q/metrics}.
 */
@QuarkusTest
@WithTestResource(KafkaBrokerResource.class)
class KafkaBatchServiceTest {
    @Inject
    KafkaBatchService service;

    @Inject
    ModelHost host;

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;

    static double metric(String metrics, String name) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "(\\{[^}]*})? ([0-9.eE+-]+)$").matcher(metrics);
        assertTrue(m.find(), () -> name + " is not on /q/metrics");
        return Double.parseDouble(m.group(2));
    }

    @Test
    void theConfiguredConsumerAnswersTheDefaultTopicsAndReportsMetrics() throws Exception {
        assertTrue(host.awaitSettled(Duration.ofMinutes(3)), host::describe);
        String model = host.served().name();
        BatchSettings settings = service.settings();
        assertEquals(List.of("dsv2.batch.requests", "dsv2.batch.results", "dsv2.batch.dlq"), settings.topics());
        assertEquals("dsv2-batch", settings.groupId());
        assertEquals(4, settings.maxInFlight());
        assertEquals("quarkus-test-tx", settings.transactionalId());

        KafkaTestBroker.produce(bootstrap, List.of(
                line(BatchSettings.REQUESTS_TOPIC, "q-1", "/v1/completions", completion(model, "One", 3)),
                line(BatchSettings.REQUESTS_TOPIC, "q-2", "/v1/completions", completion(model, "Two", 3)),
                raw(BatchSettings.REQUESTS_TOPIC, "q-3", "{\"custom_id\": \"q-3\"}")));
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        String metrics;
        do {
            assertTrue(System.nanoTime() < deadline, "timed out waiting for the batch metrics to show the job");
            Thread.sleep(100);
            metrics = RestAssured.get("/q/metrics").then().statusCode(200).extract().asString();
        } while (!metrics.contains("dsv2_batch_records_produced_total 2.0")
                || !metrics.contains("dsv2_batch_records_dead_lettered_total 1.0"));

        assertEquals(3, metric(metrics, "dsv2_batch_records_consumed_total"));
        assertEquals(0, metric(metrics, "dsv2_batch_records_failed_total"));
        assertTrue(metric(metrics, "dsv2_batch_transactions_total") >= 1);
        assertEquals(0, metric(metrics, "dsv2_batch_in_flight"));
        assertEquals(0, metric(metrics, "dsv2_batch_consumer_lag"));
        assertEquals(BatchProcessor.State.RUNNING, service.processor().orElseThrow().state());

        Map<String, JsonNode> results = BatchLines.byCustomId(
                KafkaTestBroker.readToEnd(bootstrap, BatchSettings.RESULTS_TOPIC, true));
        assertEquals(2, results.size());
        assertEquals(200, results.get("q-1").at("/response/status_code").asInt());
        assertEquals(1, KafkaTestBroker.readToEnd(bootstrap, BatchSettings.DLQ_TOPIC, true).size());
    }
}
