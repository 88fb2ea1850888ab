package dev.dsv2.gateway.batch;

import dev.dsv2.gateway.openai.OpenAiResponse;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

import java.util.concurrent.CompletableFuture;

/**
 * One consumed record on its way to the results (or dead-letter) topic: {@link #input} read, then (for a request)
 * waiting for an in-flight permit, generating, and finally {@link #done()} with the {@link #output()} record that
 * the next transaction writes together with the offset after this record. Everything but the generation's
 * {@link #response} and cancellation belongs to the processor's loop thread.
 */
final class RecordTask {
    final ConsumerRecord<byte[], byte[]> record;
    final BatchInput input;
    private ProducerRecord<byte[], byte[]> output;
    /** The result's {@code status_code}; 0 for a dead letter. */
    private int status;
    /** Generation attempts that ended in a transient refusal (429/503) and were retried. */
    int retries;
    /** {@link System#nanoTime()} before which a retry does not start. */
    long notBefore;
    /** The answer of the last generation attempt; set by the generating thread, read by the loop. */
    volatile OpenAiResponse response;
    private volatile CompletableFuture<OpenAiResponse> call;
    private volatile boolean cancelled;

    RecordTask(ConsumerRecord<byte[], byte[]> record, BatchInput input) {
        this.record = record;
        this.input = input;
    }

    TopicPartition partition() {
        return new TopicPartition(record.topic(), record.partition());
    }

    long offset() {
        return record.offset();
    }

    boolean done() {
        return output != null;
    }

    ProducerRecord<byte[], byte[]> output() {
        return output;
    }

    /** Finishes with the result line of {@code status}, written by the next transaction. */
    void finishResult(ProducerRecord<byte[], byte[]> result, int status) {
        finish(result);
        this.status = status;
    }

    /** Finishes with the dead letter of a record that is not a batch line. */
    void finishDeadLetter(ProducerRecord<byte[], byte[]> deadLetter) {
        finish(deadLetter);
    }

    private void finish(ProducerRecord<byte[], byte[]> output) {
        if (this.output != null) {
            throw new IllegalStateException("record " + partition() + "@" + offset() + " finished twice");
        }
        this.output = output;
    }

    /** Whether the output is a dead letter rather than a result. */
    boolean deadLettered() {
        return done() && status == 0;
    }

    /** Whether the output is a result with a status other than 200. */
    boolean failed() {
        return done() && status != 0 && status != 200;
    }

    /** Records the running generation, so that {@link #cancel()} can abort it; false if already cancelled. */
    boolean attach(CompletableFuture<OpenAiResponse> call) {
        this.call = call;
        if (cancelled) {
            call.cancel(false);
            return false;
        }
        return true;
    }

    boolean cancelled() {
        return cancelled;
    }

    /** Abandons this record (its partition was revoked, or the transaction aborted): aborts its generation. */
    void cancel() {
        cancelled = true;
        CompletableFuture<OpenAiResponse> c = call;
        if (c != null) {
            c.cancel(false);
        }
    }
}
