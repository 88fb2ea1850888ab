package dev.dsv2.gateway.batch;

import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.NoOffsetForPartitionException;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.FencedInstanceIdException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.errors.TransactionAbortableException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Fatal: another instance took over or the setup is wrong. Retriable: any other Kafka error. */
class KafkaFailuresTest {
    @Test
    void fencingLostSequencesAndSetupErrorsAreFatal() {
        for (Throwable t : List.of(new ProducerFencedException("fenced"), new InvalidProducerEpochException("epoch"),
                new FencedInstanceIdException("instance"), new OutOfOrderSequenceException("seq"),
                new TopicAuthorizationException(Set.of("dsv2.batch.results")), new UnsupportedVersionException("v"),
                new NoOffsetForPartitionException(new TopicPartition("t", 0)),
                new KafkaException("Cannot execute transactional method because we are in an error state",
                        new ProducerFencedException("fenced earlier")),
                new IllegalStateException("a bug"))) {
            assertEquals(KafkaFailures.FATAL, KafkaFailures.of(t), t::toString);
        }
    }

    @Test
    void timeoutsRebalancesAndAbortableErrorsAreRetriable() {
        for (Throwable t : List.of(new TimeoutException("commit timed out"),
                new CommitFailedException("the group rebalanced"), new TransactionAbortableException("abort"),
                new KafkaException("the transaction was aborted", new TimeoutException("send")))) {
            assertEquals(KafkaFailures.RETRIABLE, KafkaFailures.of(t), t::toString);
        }
    }
}
