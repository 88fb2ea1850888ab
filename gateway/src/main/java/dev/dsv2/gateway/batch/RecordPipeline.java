package dev.dsv2.gateway.batch;

import dev.dsv2.gateway.core.InFlightLimit;
import dev.dsv2.gateway.openai.Endpoint;
import dev.dsv2.gateway.openai.OpenAiApi;
import dev.dsv2.gateway.openai.OpenAiErrors;
import dev.dsv2.gateway.openai.OpenAiResponse;
import org.apache.kafka.clients.consumer.ConsumerRecord;

import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The record side of the Kafka batch loop, apart from transactions: each consumed record is read
 * ({@link BatchInput}), dead-lettered or answered at once when it is not a runnable request, else queued until a
 * batch permit is free, generated through {@link OpenAiApi} on a virtual thread, and finished with its result line
 * ({@link BatchOutput}). A transient refusal (429, or 503 while the model loads or the router is unreachable) goes
 * back to the queue with a backoff instead of becoming the result. Finished records wait in {@link PartitionQueues}
 * for {@link BatchProcessor}'s next transaction. Everything here runs on the loop thread, except the generation
 * itself, which hands its answer back through a concurrent queue.
 */
final class RecordPipeline {
    private static final Logger LOG = Logger.getLogger(RecordPipeline.class.getName());
    static final long MAX_RETRY_BACKOFF_MS = 10_000;

    private final BatchSettings settings;
    private final OpenAiApi api;
    private final InFlightLimit limit;
    private final PartitionQueues pending;
    private final ExecutorService starter = Executors.newVirtualThreadPerTaskExecutor();
    /** Records whose generation answered, handed from the generating threads to the loop. */
    private final Queue<RecordTask> answered = new ConcurrentLinkedQueue<>();
    /** Requests waiting for a batch permit (or for their retry backoff). */
    private final ArrayDeque<RecordTask> waiting = new ArrayDeque<>();

    RecordPipeline(BatchSettings settings, OpenAiApi api, PartitionQueues pending) {
        this.settings = settings;
        this.api = api;
        this.limit = new InFlightLimit("batch", settings.maxInFlight());
        this.pending = pending;
    }

    /** Requests generating now. */
    int inFlight() {
        return limit.inFlight();
    }

    /** Takes a consumed record in: pending from now on, finished at once when it is not a runnable request. */
    void accept(ConsumerRecord<byte[], byte[]> record) {
        RecordTask task = new RecordTask(record, BatchInput.parse(record.value()));
        pending.add(task);
        switch (task.input) {
            case BatchInput.Malformed m -> {
                LOG.warning(() -> "Kafka batch: " + record.topic() + "-" + record.partition() + "@" + record.offset()
                        + " is not a batch line, dead-lettered to " + settings.dlqTopic() + ": " + m.reason());
                task.finishDeadLetter(BatchOutput.deadLetter(settings.dlqTopic(), record, m.reason()));
            }
            case BatchInput.Request r when Endpoint.ofPath(r.url()) == null ->
                    finishResult(task, r, BatchOutput.badUrl(r.url()));
            case BatchInput.Request r -> waiting.addLast(task);
        }
    }

    private void finishResult(RecordTask task, BatchInput.Request request, OpenAiResponse response) {
        task.finishResult(BatchOutput.result(settings.resultsTopic(), task.record, request.customId(), response,
                settings.maxResultBytes()), response.status());
    }

    /** Starts waiting requests while batch permits are free (a retried one once its backoff has passed). */
    void startWaiting() {
        long now = System.nanoTime();
        for (Iterator<RecordTask> it = waiting.iterator(); it.hasNext(); ) {
            RecordTask task = it.next();
            if (task.retries > 0 && task.notBefore - now > 0) {
                continue;
            }
            Optional<InFlightLimit.Permit> permit = limit.tryAcquire();
            if (permit.isEmpty()) {
                return;
            }
            it.remove();
            launch(task, permit.get());
        }
    }

    private void launch(RecordTask task, InFlightLimit.Permit permit) {
        BatchInput.Request request = (BatchInput.Request) task.input;
        Endpoint endpoint = Endpoint.ofPath(request.url());
        starter.execute(() -> {
            if (task.cancelled()) {
                permit.close();
                return;
            }
            CompletableFuture<OpenAiResponse> call;
            try {
                call = api.complete(endpoint, request.body(), permit).toCompletableFuture();
            } catch (RuntimeException e) {
                permit.close();
                call = CompletableFuture.completedFuture(OpenAiErrors.response(e));
            }
            if (!task.attach(call)) {
                return;
            }
            call.whenComplete((response, error) -> {
                if (error instanceof CancellationException || task.cancelled()) {
                    return;
                }
                task.response = response != null ? response : OpenAiErrors.response(error);
                answered.add(task);
            });
        });
    }

    /**
     * Turns answered generations into results; a transient refusal goes back to the queue with a backoff, or is
     * dropped when {@code retry} is false (the processor is stopping: the next owner re-reads it).
     */
    void collectAnswers(boolean retry) {
        RecordTask task;
        while ((task = answered.poll()) != null) {
            if (task.cancelled()) {
                continue;
            }
            OpenAiResponse response = task.response;
            if (response.status() == 429 || response.status() == 503) {
                if (!retry) {
                    continue;
                }
                task.retries++;
                task.notBefore = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(
                        BatchProcessor.backoff(task.retries, MAX_RETRY_BACKOFF_MS));
                waiting.addFirst(task);
                RecordTask t = task;
                LOG.log(task.retries == 1 || task.retries % 10 == 0 ? Level.WARNING : Level.FINE, () -> "Kafka batch: "
                        + t.partition() + "@" + t.offset() + " was refused for now (" + response.status() + " "
                        + response.body().at("/error/message").asText() + "), retry " + t.retries);
            } else {
                finishResult(task, (BatchInput.Request) task.input, response);
            }
        }
    }

    /** Abandons records: their generations are aborted, and they leave the start queue. */
    void discard(List<RecordTask> tasks) {
        if (tasks.isEmpty()) {
            return;
        }
        tasks.forEach(RecordTask::cancel);
        waiting.removeIf(RecordTask::cancelled);
    }

    /** After the loop ended: nothing more starts. */
    void close() {
        waiting.clear();
        starter.shutdown();
    }
}
