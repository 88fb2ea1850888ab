package dev.dsv2.gateway.batch;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The Kafka batch consumer's metrics (Micrometer; Prometheus names in parentheses, on {@code /q/metrics}):
 * <ul>
 *   <li>{@code dsv2.batch.records.consumed} ({@code dsv2_batch_records_consumed_total}): requests-topic records read;
 *       a record read again after an aborted transaction counts again</li>
 *   <li>{@code dsv2.batch.records.produced} ({@code dsv2_batch_records_produced_total}): result records committed</li>
 *   <li>{@code dsv2.batch.records.failed} ({@code dsv2_batch_records_failed_total}): committed results whose
 *       {@code response.status_code} is not 200 (invalid requests, server errors)</li>
 *   <li>{@code dsv2.batch.records.dead.lettered} ({@code dsv2_batch_records_dead_lettered_total}): records committed
 *       to the dead-letter topic</li>
 *   <li>{@code dsv2.batch.transactions{outcome=committed|aborted}} ({@code dsv2_batch_transactions_total})</li>
 *   <li>{@code dsv2.batch.in.flight} ({@code dsv2_batch_in_flight}): batch requests generating now</li>
 *   <li>{@code dsv2.batch.consumer.lag} ({@code dsv2_batch_consumer_lag}): records of the assigned requests-topic
 *       partitions not yet fetched (log-end offset minus position, summed)</li>
 * </ul>
 * Counts of committed records move only when their transaction commits, so they count each input once.
 */
public final class BatchMetrics {
    private final Counter consumed;
    private final Counter produced;
    private final Counter failed;
    private final Counter deadLettered;
    private final Counter committed;
    private final Counter aborted;
    private final AtomicLong inFlight = new AtomicLong();
    private final AtomicLong lag = new AtomicLong();

    public BatchMetrics(MeterRegistry registry) {
        consumed = Counter.builder("dsv2.batch.records.consumed")
                .description("Kafka batch: requests-topic records read").register(registry);
        produced = Counter.builder("dsv2.batch.records.produced")
                .description("Kafka batch: result records committed").register(registry);
        failed = Counter.builder("dsv2.batch.records.failed")
                .description("Kafka batch: committed results with a status other than 200").register(registry);
        deadLettered = Counter.builder("dsv2.batch.records.dead.lettered")
                .description("Kafka batch: records committed to the dead-letter topic").register(registry);
        committed = Counter.builder("dsv2.batch.transactions").tag("outcome", "committed")
                .description("Kafka batch: transactions by outcome").register(registry);
        aborted = Counter.builder("dsv2.batch.transactions").tag("outcome", "aborted")
                .description("Kafka batch: transactions by outcome").register(registry);
        Gauge.builder("dsv2.batch.in.flight", inFlight, AtomicLong::get)
                .description("Kafka batch: requests generating now").register(registry);
        Gauge.builder("dsv2.batch.consumer.lag", lag, AtomicLong::get)
                .description("Kafka batch: requests-topic records not yet fetched, summed over assigned partitions")
                .register(registry);
    }

    void consumed(int records) {
        consumed.increment(records);
    }

    /** A transaction committed {@code results} results ({@code failures} of them not 200) and {@code deadLetters}. */
    void committed(int results, int failures, int deadLetters) {
        committed.increment();
        produced.increment(results);
        failed.increment(failures);
        deadLettered.increment(deadLetters);
    }

    void aborted() {
        aborted.increment();
    }

    void inFlight(long requests) {
        inFlight.set(requests);
    }

    void lag(long records) {
        lag.set(records);
    }
}
