package dev.dsv2.gateway.batch;

import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.openai.OpenAiApi;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.common.annotation.Identifier;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.apache.kafka.clients.CommonClientConfigs;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * Runs the Kafka batch consumer in the gateway when {@code dsv2.kafka.enabled=true} ({@code ./dsv2 serve
 * --kafka-bootstrap HOST:PORT} sets it): a {@link BatchProcessor} configured from the {@code dsv2.kafka.*} keys,
 * {@code kafka.bootstrap.servers} and any other {@code kafka.*} client setting, started once the model is loaded
 * (batch lines are not refused while it loads; they wait). When a processor stops on a fatal error, a fresh one
 * takes over after a backoff (1 s, doubling to 60 s; counted by {@code dsv2.batch.consumer.restarts}): it re-reads
 * from the last committed offsets, so nothing is lost or repeated. The batch consumer stops before the model is
 * closed at shutdown, so shutting down never turns running requests into error results.
 */
@ApplicationScoped
public class KafkaBatchService {
    private static final Logger LOG = Logger.getLogger(KafkaBatchService.class.getName());
    static final Duration MAX_RESTART_BACKOFF = Duration.ofSeconds(60);

    @Inject
    ModelHost host;

    @Inject
    OpenAiApi api;

    @Inject
    MeterRegistry registry;

    /** Every {@code kafka.*} configuration key without its prefix (quarkus-kafka-client's default broker config). */
    @Inject
    @Identifier("default-kafka-broker")
    Instance<Map<String, Object>> kafkaConfig;

    @ConfigProperty(name = "dsv2.kafka.enabled", defaultValue = "false")
    boolean enabled;

    @ConfigProperty(name = "kafka.bootstrap.servers", defaultValue = "localhost:9092")
    String bootstrapServers;

    @ConfigProperty(name = "dsv2.kafka.requests-topic", defaultValue = BatchSettings.REQUESTS_TOPIC)
    String requestsTopic;

    @ConfigProperty(name = "dsv2.kafka.results-topic", defaultValue = BatchSettings.RESULTS_TOPIC)
    String resultsTopic;

    @ConfigProperty(name = "dsv2.kafka.dlq-topic", defaultValue = BatchSettings.DLQ_TOPIC)
    String dlqTopic;

    @ConfigProperty(name = "dsv2.kafka.group-id", defaultValue = BatchSettings.GROUP_ID)
    String groupId;

    @ConfigProperty(name = "dsv2.kafka.max-in-flight", defaultValue = "" + BatchSettings.MAX_IN_FLIGHT)
    int maxInFlight;

    @ConfigProperty(name = "dsv2.kafka.transactional-id")
    Optional<String> transactionalId;

    private BatchMetrics metrics;
    private Counter restarts;
    private volatile BatchProcessor processor;
    private volatile boolean shutdown;

    /** The running processor, if batch jobs are enabled and the model is loaded. */
    public Optional<BatchProcessor> processor() {
        return Optional.ofNullable(processor);
    }

    /** The configuration; throws IllegalArgumentException naming the key at fault. */
    public BatchSettings settings() {
        Map<String, Object> client = new HashMap<>(kafkaConfig.isResolvable() ? kafkaConfig.get() : Map.of());
        // Set from their own keys below.
        client.remove(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG);
        client.remove(CommonClientConfigs.GROUP_ID_CONFIG);
        return new BatchSettings(bootstrapServers, requestsTopic, resultsTopic, dlqTopic, groupId, maxInFlight,
                transactionalId.filter(s -> !s.isBlank()).orElseGet(() -> BatchSettings.defaultTransactionalId(groupId)),
                BatchSettings.COMMIT_INTERVAL, client);
    }

    void start(@Observes StartupEvent event) {
        if (!enabled) {
            LOG.fine("Kafka batch jobs are off (dsv2.kafka.enabled=false)");
            return;
        }
        BatchSettings settings = settings();
        metrics = new BatchMetrics(registry);
        restarts = Counter.builder("dsv2.batch.consumer.restarts")
                .description("Kafka batch: fresh consumers started after a fatal error").register(registry);
        LOG.info(() -> "Kafka batch jobs on: " + settings.bootstrapServers() + ", topic " + settings.requestsTopic()
                + "; consuming once the model is loaded");
        host.onReady(model -> Thread.ofVirtual().name("dsv2-batch-supervisor").start(() -> supervise(settings)));
    }

    /** Runs processors one after another: a fresh one after each fatal failure, until shutdown. */
    private void supervise(BatchSettings settings) {
        Duration backoff = Duration.ofSeconds(1);
        while (!shutdown) {
            BatchProcessor p = new BatchProcessor(settings, api, metrics);
            synchronized (this) {
                if (shutdown) {
                    return;
                }
                processor = p;
                p.start();
            }
            long started = System.nanoTime();
            try {
                while (!p.awaitStopped(Duration.ofMinutes(1))) {
                    // keep waiting
                }
                if (shutdown || p.state() != BatchProcessor.State.FAILED) {
                    return;
                }
                if (Duration.ofNanos(System.nanoTime() - started).compareTo(MAX_RESTART_BACKOFF) > 0) {
                    backoff = Duration.ofSeconds(1);
                }
                LOG.warning("Kafka batch: starting a fresh consumer in " + backoff.toSeconds() + " s");
                Thread.sleep(backoff.toMillis());
                backoff = backoff.multipliedBy(2).compareTo(MAX_RESTART_BACKOFF) > 0 ? MAX_RESTART_BACKOFF
                        : backoff.multipliedBy(2);
                restarts.increment();
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** Before the model host closes (default observer priority): running requests are aborted, not failed. */
    void stop(@Observes @Priority(1) ShutdownEvent event) {
        BatchProcessor p;
        synchronized (this) {
            shutdown = true;
            p = processor;
        }
        if (p != null) {
            p.close();
        }
    }
}
