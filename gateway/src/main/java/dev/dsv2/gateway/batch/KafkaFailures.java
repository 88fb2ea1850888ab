package dev.dsv2.gateway.batch;

import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.ApplicationRecoverableException;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.errors.UnsupportedForMessageFormatException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.apache.kafka.clients.consumer.InvalidOffsetException;

/**
 * The error taxonomy of the exactly-once loop, after Apache Kafka's {@code ExactlyOnceMessageProcessor} example.
 * <ul>
 *   <li><b>Fatal</b>: this instance cannot go on. Another producer took over the transactional.id or the group
 *       member id ({@code ProducerFencedException}, {@code InvalidProducerEpochException},
 *       {@code FencedInstanceIdException}: Kafka's {@link ApplicationRecoverableException}s), the producer's
 *       sequence state is lost ({@link OutOfOrderSequenceException}), or the setup is wrong (authentication,
 *       authorization, unsupported broker version, invalid topic, bad configuration, offsets out of range with
 *       {@code auto.offset.reset=none}), an interrupt, or any non-Kafka exception (a bug). The processor closes
 *       without committing and reports DOWN on {@code /q/health/live}: a fresh instance takes over from the last
 *       committed offsets.</li>
 *   <li><b>Retriable</b>: every other {@link KafkaException} (timeouts, a rebalance that invalidated the commit,
 *       an abortable transaction error). The processor aborts the transaction, drops the uncommitted work, seeks
 *       back to the first uncommitted offset of each partition and goes on, backing off.</li>
 * </ul>
 * The third kind of the example, <b>skip</b>, is not an exception here: a record that is not a batch line is
 * written to the dead-letter topic inside the same transaction as its offset.
 */
enum KafkaFailures {
    FATAL, RETRIABLE;

    static KafkaFailures of(Throwable failure) {
        if (!(failure instanceof KafkaException)) {
            return FATAL;
        }
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof ApplicationRecoverableException || t instanceof OutOfOrderSequenceException
                    || t instanceof AuthenticationException || t instanceof AuthorizationException
                    || t instanceof UnsupportedVersionException || t instanceof UnsupportedForMessageFormatException
                    || t instanceof InvalidTopicException || t instanceof ConfigException
                    || t instanceof SerializationException || t instanceof InvalidOffsetException
                    || t instanceof InterruptException) {
                return FATAL;
            }
        }
        return RETRIABLE;
    }
}
