package dev.dsv2.gateway.batch;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.time.Duration;
import java.util.Map;

/**
 * A real transactional producer that dies, as a killed process would, at its {@code n}-th commit: the transaction's
 * records and offsets have been sent and flushed to the broker, but it is neither committed nor aborted, and nothing
 * more reaches the broker (abort is a no-op, close does not wait). The processor sees a fatal error and stops; a
 * fresh instance with the same transactional.id must abort the open transaction and redo its work.
 */
final class CrashingProducer extends KafkaProducer<byte[], byte[]> {
    private final int crashAtCommit;
    private int commits;
    private volatile boolean crashed;

    CrashingProducer(Map<String, Object> config, int crashAtCommit) {
        super(config, new ByteArraySerializer(), new ByteArraySerializer());
        this.crashAtCommit = crashAtCommit;
    }

    boolean crashed() {
        return crashed;
    }

    @Override
    public void commitTransaction() {
        if (++commits == crashAtCommit) {
            flush();
            crashed = true;
            throw new ProducerFencedException("simulated crash before committing transaction " + commits);
        }
        super.commitTransaction();
    }

    @Override
    public void abortTransaction() {
        if (!crashed) {
            super.abortTransaction();
        }
    }

    @Override
    public void close(Duration timeout) {
        super.close(crashed ? Duration.ZERO : timeout);
    }
}
