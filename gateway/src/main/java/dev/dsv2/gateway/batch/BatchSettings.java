package dev.dsv2.gateway.batch;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Configuration of the Kafka batch consumer (keys of the service configuration contract; each also an environment
 * variable, e.g. {@code DSV2_KAFKA_MAX_IN_FLIGHT}).
 *
 * @param bootstrapServers {@code kafka.bootstrap.servers}
 * @param requestsTopic    {@code dsv2.kafka.requests-topic}: Batch API input lines ({@value #REQUESTS_TOPIC})
 * @param resultsTopic     {@code dsv2.kafka.results-topic}: Batch API output lines ({@value #RESULTS_TOPIC})
 * @param dlqTopic         {@code dsv2.kafka.dlq-topic}: records that are not batch lines ({@value #DLQ_TOPIC})
 * @param groupId          {@code dsv2.kafka.group-id}: the consumer group ({@value #GROUP_ID}); every gateway of the
 *                         group shares the requests topic's partitions
 * @param maxInFlight      {@code dsv2.kafka.max-in-flight}: batch requests generating at once ({@value #MAX_IN_FLIGHT}),
 *                         a cap of its own so batch jobs cannot starve interactive clients
 * @param transactionalId  {@code dsv2.kafka.transactional-id}: this instance's producer transactional.id; stable across
 *                         restarts of the same instance so that a restart aborts the open transaction of the instance
 *                         it replaces at once (instead of after {@code transaction.timeout.ms}). Default
 *                         {@code <group-id>-<host name>}
 * @param commitInterval   how long finished results may wait to be committed together (one transaction per interval)
 * @param clientProperties any other Kafka client setting ({@code kafka.<name>} in the configuration), applied to the
 *                         consumer and the producer; the settings exactly-once depends on cannot be overridden
 */
public record BatchSettings(String bootstrapServers, String requestsTopic, String resultsTopic, String dlqTopic,
                            String groupId, int maxInFlight, String transactionalId, Duration commitInterval,
                            Map<String, Object> clientProperties) {
    public static final String REQUESTS_TOPIC = "dsv2.batch.requests";
    public static final String RESULTS_TOPIC = "dsv2.batch.results";
    public static final String DLQ_TOPIC = "dsv2.batch.dlq";
    public static final String GROUP_ID = "dsv2-batch";
    public static final int MAX_IN_FLIGHT = 16;
    public static final Duration COMMIT_INTERVAL = Duration.ofMillis(100);
    /** Client settings the exactly-once loop sets itself; a {@code kafka.*} value for them is refused. */
    static final Set<String> FIXED = Set.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG,
            ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, ProducerConfig.TRANSACTIONAL_ID_CONFIG,
            ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, ProducerConfig.ACKS_CONFIG,
            ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
            ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG);
    /** Headroom under max.request.size for the record's key, headers and batch overhead. */
    private static final int RECORD_OVERHEAD_BYTES = 16 * 1024;

    public BatchSettings {
        require("kafka.bootstrap.servers", bootstrapServers);
        require("dsv2.kafka.requests-topic", requestsTopic);
        require("dsv2.kafka.results-topic", resultsTopic);
        require("dsv2.kafka.dlq-topic", dlqTopic);
        require("dsv2.kafka.group-id", groupId);
        require("dsv2.kafka.transactional-id", transactionalId);
        if (requestsTopic.equals(resultsTopic) || requestsTopic.equals(dlqTopic)) {
            throw new IllegalArgumentException("dsv2.kafka.requests-topic \"" + requestsTopic + "\" must differ from "
                    + "the results topic \"" + resultsTopic + "\" and the dead-letter topic \"" + dlqTopic
                    + "\" (the consumer would read its own output)");
        }
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("dsv2.kafka.max-in-flight must be >= 1, got " + maxInFlight);
        }
        if (commitInterval.isNegative()) {
            throw new IllegalArgumentException("the batch commit interval must be >= 0, got " + commitInterval);
        }
        clientProperties = Map.copyOf(clientProperties);
        for (String key : clientProperties.keySet()) {
            if (FIXED.contains(key)) {
                throw new IllegalArgumentException("kafka." + key + " cannot be set: the exactly-once batch consumer "
                        + "sets it itself (fixed: " + FIXED.stream().sorted().toList() + ")");
            }
        }
    }

    private static void require(String key, String value) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException(key + " must not be blank, got " + (value == null ? "nothing"
                    : "\"" + value + "\""));
        }
    }

    /** The contract's defaults, with {@code bootstrapServers}. */
    public static BatchSettings defaults(String bootstrapServers) {
        return new BatchSettings(bootstrapServers, REQUESTS_TOPIC, RESULTS_TOPIC, DLQ_TOPIC, GROUP_ID, MAX_IN_FLIGHT,
                defaultTransactionalId(GROUP_ID), COMMIT_INTERVAL, Map.of());
    }

    /** {@code <groupId>-<host name>}: one stable id per machine / pod name. */
    public static String defaultTransactionalId(String groupId) {
        String host = System.getenv("HOSTNAME");
        if (host == null || host.isBlank()) {
            try {
                host = InetAddress.getLocalHost().getHostName();
            } catch (UnknownHostException e) {
                host = "localhost";
            }
        }
        return groupId + "-" + host;
    }

    public BatchSettings withTopics(String requests, String results, String dlq) {
        return new BatchSettings(bootstrapServers, requests, results, dlq, groupId, maxInFlight, transactionalId,
                commitInterval, clientProperties);
    }

    public BatchSettings withGroup(String group, String txId) {
        return new BatchSettings(bootstrapServers, requestsTopic, resultsTopic, dlqTopic, group, maxInFlight, txId,
                commitInterval, clientProperties);
    }

    public BatchSettings withMaxInFlight(int max) {
        return new BatchSettings(bootstrapServers, requestsTopic, resultsTopic, dlqTopic, groupId, max,
                transactionalId, commitInterval, clientProperties);
    }

    public BatchSettings withCommitInterval(Duration interval) {
        return new BatchSettings(bootstrapServers, requestsTopic, resultsTopic, dlqTopic, groupId, maxInFlight,
                transactionalId, interval, clientProperties);
    }

    public BatchSettings withClientProperties(Map<String, Object> properties) {
        return new BatchSettings(bootstrapServers, requestsTopic, resultsTopic, dlqTopic, groupId, maxInFlight,
                transactionalId, commitInterval, properties);
    }

    /**
     * The input consumer: {@code read_committed} (it never reads aborted or open transactions, so chaining batch
     * stages stays exactly once), no auto-commit (offsets are committed inside the producer's transactions), from
     * the earliest offset when the group has none (lines produced before the first gateway started are not missed).
     */
    Map<String, Object> consumerConfig() {
        Map<String, Object> c = new HashMap<>();
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 2 * maxInFlight);
        c.put(ConsumerConfig.CLIENT_ID_CONFIG, transactionalId + "-consumer");
        c.putAll(clientProperties);
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        c.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        return c;
    }

    /** The transactional producer of results, dead letters and consumed offsets. */
    Map<String, Object> producerConfig() {
        Map<String, Object> p = new HashMap<>();
        p.put(ProducerConfig.CLIENT_ID_CONFIG, transactionalId + "-producer");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.putAll(clientProperties);
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        return p;
    }

    /** The largest result line written as is (below the producer's {@code max.request.size}). */
    int maxResultBytes() {
        Object configured = clientProperties.get(ProducerConfig.MAX_REQUEST_SIZE_CONFIG);
        int max = configured == null ? 1024 * 1024 : Integer.parseInt(configured.toString().trim());
        return Math.max(1024, max - RECORD_OVERHEAD_BYTES);
    }

    /** The topics the batch consumer writes to or reads from, for logs. */
    List<String> topics() {
        return List.of(requestsTopic, resultsTopic, dlqTopic);
    }
}
