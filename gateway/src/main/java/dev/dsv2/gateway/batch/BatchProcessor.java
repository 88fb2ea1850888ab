package dev.dsv2.gateway.batch;

import dev.dsv2.gateway.openai.OpenAiApi;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Kafka batch jobs, exactly once: consumes OpenAI Batch API lines from the requests topic, runs each through
 * {@link OpenAiApi} (the same validation, continuous batcher and response bodies as the HTTP API) and writes one
 * Batch API output line per input to the results topic, or the input itself to the dead-letter topic when it is not
 * a batch line (see {@link BatchInput}, {@link BatchOutput}).
 *
 * <p><b>Exactly once.</b> Consume–generate–produce with Kafka transactions, as in Apache Kafka's
 * {@code ExactlyOnceMessageProcessor} example: results, dead letters and the consumed offsets are committed
 * atomically ({@code producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata())}), the input consumer reads
 * {@code read_committed} and never auto-commits. A read_committed consumer of the results therefore sees each
 * input's result exactly once, even when a gateway is killed mid-batch: its open transaction is aborted (at once
 * when an instance with the same transactional.id starts, else after {@code transaction.timeout.ms}) and the next
 * owner of the partition re-reads from the last committed offset.
 *
 * <p>This class is the transaction loop (clients, polling, commits, rebalances, errors); what happens to each
 * record (parse, dead-letter, generate, retry, result line) is {@link RecordPipeline}'s.
 *
 * <p><b>Concurrency.</b> One loop thread owns the consumer and the producer. Records of a poll generate
 * concurrently, up to {@code dsv2.kafka.max-in-flight} at once (a permit of the batch {@link InFlightLimit}, apart
 * from the interactive APIs' cap), on virtual threads; the loop keeps polling meanwhile (partitions are paused while
 * enough work is queued). Per partition, finished records are committed in offset order: a transaction takes each
 * partition's finished prefix (see {@link PartitionQueues}), so no offset is committed before every record below it
 * has its output in the same or an earlier transaction. Transactions are short (begun only when outputs are ready),
 * at most one per {@link BatchSettings#commitInterval()} while work is still running.
 *
 * <p><b>Errors</b> (taxonomy in {@link KafkaFailures}): a fatal error closes the processor without committing
 * ({@link State#FAILED}; the owner starts a fresh one); a retriable error aborts the transaction, drops the
 * uncommitted work and seeks back to the first uncommitted offset; a record that is not a batch line is skipped into
 * the dead-letter topic inside the transaction. A request the model server refuses for the moment (429, or 503 while
 * the model loads or the router is unreachable) is retried with a backoff rather than answered; every other answer,
 * including 400/404 validation errors and 500s, is the request's result.
 *
 * <p><b>Rebalances.</b> When partitions are revoked, the finished work is committed first and the rest is aborted
 * (the new owner re-reads it); lost partitions are dropped without committing.
 */
public final class BatchProcessor implements AutoCloseable {
    /** Lifecycle: {@code STARTING → RUNNING → CLOSED | FAILED}. */
    public enum State { STARTING, RUNNING, CLOSED, FAILED }

    /** Makes the transactional producer from its configuration (tests wrap it to simulate a crash). */
    @FunctionalInterface
    interface ProducerFactory {
        Producer<byte[], byte[]> create(Map<String, Object> config);
    }

    private static final Logger LOG = Logger.getLogger(BatchProcessor.class.getName());
    static final Duration IDLE_POLL = Duration.ofMillis(200);
    static final Duration BUSY_POLL = Duration.ofMillis(10);
    /** Aborted transactions in a row before the error is treated as fatal. */
    static final int MAX_CONSECUTIVE_ABORTS = 10;
    static final long MAX_ABORT_BACKOFF_MS = 5_000;
    static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);

    private final BatchSettings settings;
    private final BatchMetrics metrics;
    private final ProducerFactory producers;
    private final Thread thread;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile State state = State.STARTING;
    private volatile Throwable failure;
    private volatile boolean closeRequested;

    // Owned by the loop thread.
    private final PartitionQueues pending = new PartitionQueues();
    private final RecordPipeline records;
    private KafkaConsumer<byte[], byte[]> consumer;
    private Producer<byte[], byte[]> producer;
    private boolean inTransaction;
    private int transactionsBegun;
    private int consecutiveAborts;
    private long lastCommitNanos = System.nanoTime();
    /** A failure inside a rebalance callback, rethrown by the loop once poll has returned. */
    private RuntimeException deferred;
    /** Set on a fatal error: nothing may be committed any more. */
    private boolean stopping;

    public BatchProcessor(BatchSettings settings, OpenAiApi api, BatchMetrics metrics) {
        this(settings, api, metrics, config -> new KafkaProducer<>(config, new ByteArraySerializer(),
                new ByteArraySerializer()));
    }

    BatchProcessor(BatchSettings settings, OpenAiApi api, BatchMetrics metrics, ProducerFactory producers) {
        this.settings = settings;
        this.metrics = metrics;
        this.producers = producers;
        this.records = new RecordPipeline(settings, api, pending);
        this.thread = Thread.ofPlatform().name("dsv2-batch-" + settings.transactionalId()).daemon()
                .unstarted(this::run);
    }

    /** Starts the loop thread; returns at once. */
    public void start() {
        thread.start();
    }

    public State state() {
        return state;
    }

    /** Why the processor stopped, when it is {@link State#FAILED}. */
    public Optional<Throwable> failure() {
        return Optional.ofNullable(failure);
    }

    /** Waits until the loop has stopped (closed or failed); true if it has. */
    public boolean awaitStopped(Duration timeout) throws InterruptedException {
        return stopped.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Stops consuming: commits the results that are finished, aborts the generations still running (the partition's
     * next owner re-reads them), closes the clients. Waits for the loop to end.
     */
    @Override
    public void close() {
        closeRequested = true;
        if (thread.isAlive() && thread != Thread.currentThread()) {
            try {
                if (!stopped.await(CLOSE_TIMEOUT.toMillis() + 5_000, TimeUnit.MILLISECONDS)) {
                    LOG.warning("the Kafka batch loop did not stop within " + CLOSE_TIMEOUT.plusSeconds(5));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (!thread.isAlive()) {
            records.close();
        }
    }

    private void run() {
        State exit = State.CLOSED;
        try {
            open();
            state = State.RUNNING;
            LOG.info(() -> "Kafka batch consumer running: " + settings.requestsTopic() + " -> "
                    + settings.resultsTopic() + " (dead letters: " + settings.dlqTopic() + "), group "
                    + settings.groupId() + ", transactional.id " + settings.transactionalId() + ", up to "
                    + settings.maxInFlight() + " requests in flight");
            while (!closeRequested) {
                try {
                    step();
                } catch (KafkaException e) {
                    if (KafkaFailures.of(e) == KafkaFailures.FATAL) {
                        throw e;
                    }
                    recover(e);
                }
            }
        } catch (Throwable t) {
            exit = State.FAILED;
            failure = t;
            LOG.log(Level.SEVERE, "Kafka batch consumer stopped on a fatal error (" + t + "); nothing uncommitted "
                    + "is lost: a fresh instance re-reads from the last committed offsets", t);
        } finally {
            shutDown(exit);
            state = exit;
            stopped.countDown();
        }
    }

    /** Creates the clients; {@code initTransactions} fences an earlier instance and aborts its open transaction. */
    private void open() throws InterruptedException {
        producer = producers.create(settings.producerConfig());
        for (int attempt = 1; ; attempt++) {
            try {
                producer.initTransactions();
                break;
            } catch (KafkaException e) {
                if (KafkaFailures.of(e) == KafkaFailures.FATAL || closeRequested) {
                    throw e;
                }
                LOG.warning("Kafka batch: initializing transactions at " + settings.bootstrapServers() + " failed ("
                        + e + "), attempt " + attempt + "; retrying");
                Thread.sleep(backoff(attempt, MAX_ABORT_BACKOFF_MS));
            }
        }
        consumer = new KafkaConsumer<>(settings.consumerConfig(), new ByteArrayDeserializer(),
                new ByteArrayDeserializer());
        consumer.subscribe(List.of(settings.requestsTopic()), new Rebalance());
    }

    /** One turn of the loop: poll, start generations, collect answers, maybe commit, apply back-pressure. */
    private void step() {
        ConsumerRecords<byte[], byte[]> polled = consumer.poll(pending.isEmpty() ? IDLE_POLL : BUSY_POLL);
        if (!polled.isEmpty()) {
            metrics.consumed(polled.count());
            for (ConsumerRecord<byte[], byte[]> record : polled) {
                records.accept(record);
            }
        }
        // Only now: the records poll returned are pending, so a rewind re-reads them too.
        if (deferred != null) {
            RuntimeException e = deferred;
            deferred = null;
            throw e;
        }
        records.collectAnswers(true);
        records.startWaiting();
        if (pending.hasReady() && (pending.allDone()
                || System.nanoTime() - lastCommitNanos >= settings.commitInterval().toNanos())) {
            commitReady();
        }
        throttle();
        metrics.lag(lag());
        metrics.inFlight(records.inFlight());
    }

    /**
     * One transaction: the finished prefix of every partition (results and dead letters) and the offsets after them.
     */
    private void commitReady() {
        Map<TopicPartition, List<RecordTask>> ready = pending.ready();
        if (ready.isEmpty()) {
            return;
        }
        producer.beginTransaction();
        inTransaction = true;
        transactionsBegun++;
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        int results = 0;
        int failures = 0;
        int deadLetters = 0;
        for (Map.Entry<TopicPartition, List<RecordTask>> e : ready.entrySet()) {
            for (RecordTask task : e.getValue()) {
                producer.send(task.output(), this::sendFailed);
                if (task.deadLettered()) {
                    deadLetters++;
                } else {
                    results++;
                    failures += task.failed() ? 1 : 0;
                }
            }
            offsets.put(e.getKey(), new OffsetAndMetadata(e.getValue().getLast().offset() + 1));
        }
        producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
        producer.commitTransaction();
        inTransaction = false;
        pending.remove(ready);
        metrics.committed(results, failures, deadLetters);
        lastCommitNanos = System.nanoTime();
        consecutiveAborts = 0;
    }

    private void sendFailed(RecordMetadata metadata, Exception error) {
        if (error != null) {
            LOG.warning("Kafka batch: a send failed (" + error + "); its transaction will be aborted and retried");
        }
    }

    /** A retriable error: abort, forget the uncommitted work, re-read it from the first uncommitted offsets. */
    private void recover(KafkaException cause) throws InterruptedException {
        consecutiveAborts++;
        if (consecutiveAborts > MAX_CONSECUTIVE_ABORTS) {
            throw new IllegalStateException("Kafka batch: " + MAX_CONSECUTIVE_ABORTS + " transactions in a row "
                    + "failed; last error: " + cause, cause);
        }
        LOG.warning("Kafka batch: aborting the transaction and re-reading from the last committed offsets after "
                + cause + " (attempt " + consecutiveAborts + " of " + MAX_CONSECUTIVE_ABORTS + ")");
        if (inTransaction) {
            producer.abortTransaction();
            inTransaction = false;
            metrics.aborted();
        }
        Map<TopicPartition, Long> rewind = pending.firstOffsets();
        records.discard(pending.dropAll());
        Set<TopicPartition> assigned = consumer.assignment();
        rewind.forEach((tp, offset) -> {
            if (assigned.contains(tp)) {
                consumer.seek(tp, offset);
            }
        });
        Thread.sleep(backoff(consecutiveAborts, MAX_ABORT_BACKOFF_MS));
    }

    /** Pauses fetching while enough records are held; resumes when the backlog has drained. */
    private void throttle() {
        if (pending.size() >= 4 * settings.maxInFlight()) {
            consumer.pause(consumer.assignment());
        } else if (!consumer.paused().isEmpty()) {
            consumer.resume(consumer.paused());
        }
    }

    private long lag() {
        long total = 0;
        for (TopicPartition tp : consumer.assignment()) {
            OptionalLong lag = consumer.currentLag(tp);
            if (lag.isPresent()) {
                total += lag.getAsLong();
            }
        }
        return total;
    }

    private void shutDown(State exit) {
        stopping = exit != State.CLOSED;
        if (consumer != null) {
            if (exit == State.CLOSED) {
                records.collectAnswers(false);
            }
            try {
                // Revokes the partitions: on a clean close the finished work is committed first (see Rebalance).
                consumer.close(CLOSE_TIMEOUT);
            } catch (RuntimeException e) {
                LOG.warning("Kafka batch: closing the consumer failed: " + e);
            }
        }
        if (inTransaction) {
            try {
                producer.abortTransaction();
                metrics.aborted();
            } catch (RuntimeException e) {
                LOG.fine(() -> "Kafka batch: abort on close failed (the broker aborts it on timeout): " + e);
            }
        }
        records.discard(pending.dropAll());
        records.close();
        metrics.inFlight(0);
        if (producer != null) {
            try {
                producer.close(exit == State.CLOSED ? CLOSE_TIMEOUT : Duration.ZERO);
            } catch (RuntimeException e) {
                LOG.warning("Kafka batch: closing the producer failed: " + e);
            }
        }
        LOG.info(() -> "Kafka batch consumer " + settings.transactionalId() + " stopped (" + exit + ")");
    }

    static long backoff(int attempt, long maxMillis) {
        return Math.min(maxMillis, 100L << Math.min(attempt - 1, 16));
    }

    /** Commits before partitions leave, drops what cannot be committed. Runs inside poll and close. */
    private final class Rebalance implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (!stopping && deferred == null) {
                try {
                    records.collectAnswers(!closeRequested);
                    commitReady();
                } catch (RuntimeException e) {
                    deferred = e;
                }
            }
            records.discard(pending.drop(partitions));
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            // Another member may own them already: nothing may be committed for them.
            records.discard(pending.drop(partitions));
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            LOG.fine(() -> "Kafka batch: assigned " + partitions);
        }
    }
}
