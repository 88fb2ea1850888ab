package dev.dsv2.gateway.batch;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.util.Map;

/**
 * A Quarkus test resource: the in-JVM KRaft broker with the default batch topics, and the gateway configured to
 * consume from it ({@code dsv2.kafka.enabled=true}).
 */
public class KafkaBrokerResource implements QuarkusTestResourceLifecycleManager {
    private KafkaTestBroker broker;

    @Override
    public Map<String, String> start() {
        try {
            broker = KafkaTestBroker.start();
            broker.createTopic(BatchSettings.REQUESTS_TOPIC, 2);
            broker.createTopic(BatchSettings.RESULTS_TOPIC, 2);
            broker.createTopic(BatchSettings.DLQ_TOPIC, 1);
        } catch (Exception e) {
            throw new IllegalStateException("cannot start the test Kafka broker: " + e, e);
        }
        return Map.of("kafka.bootstrap.servers", broker.bootstrapServers(),
                "dsv2.kafka.enabled", "true",
                "dsv2.kafka.max-in-flight", "4",
                "dsv2.kafka.transactional-id", "quarkus-test-tx");
    }

    @Override
    public void stop() {
        try {
            if (broker != null) {
                broker.close();
            }
        } catch (Exception e) {
            throw new IllegalStateException("cannot stop the test Kafka broker: " + e, e);
        }
    }
}
