package dev.dsv2.gateway.batch;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A transaction only takes each partition's finished prefix: no offset is committed ahead of a missing result. */
class PartitionQueuesTest {
    static final TopicPartition P0 = new TopicPartition("requests", 0);
    static final TopicPartition P1 = new TopicPartition("requests", 1);

    static RecordTask task(TopicPartition tp, long offset) {
        return new RecordTask(new ConsumerRecord<>(tp.topic(), tp.partition(), offset, new byte[0], new byte[0]),
                new BatchInput.Request("id-" + offset, "/v1/completions", null));
    }

    static void finish(RecordTask t) {
        t.finishResult(new ProducerRecord<>("results", new byte[0]), 200);
    }

    static List<Long> offsets(List<RecordTask> tasks) {
        return tasks.stream().map(RecordTask::offset).toList();
    }

    @Test
    void onlyTheFinishedPrefixOfEachPartitionIsReady() {
        PartitionQueues q = new PartitionQueues();
        RecordTask a0 = task(P0, 10), a1 = task(P0, 11), a2 = task(P0, 12), b0 = task(P1, 5), b1 = task(P1, 6);
        for (RecordTask t : List.of(a0, a1, a2, b0, b1)) {
            q.add(t);
        }
        finish(a0);
        finish(a2);
        finish(b1);
        assertTrue(q.hasReady());
        Map<TopicPartition, List<RecordTask>> ready = q.ready();
        assertEquals(List.of(10L), offsets(ready.get(P0)), "11 is still running, so 12 must wait");
        assertFalse(ready.containsKey(P1), "5 is still running, so nothing of partition 1 is ready");
        assertFalse(q.allDone());

        q.remove(ready);
        assertEquals(4, q.size());
        assertFalse(q.hasReady());
        assertEquals(Map.of(P0, 11L, P1, 5L), q.firstOffsets(), "where a rewind re-reads from");

        finish(a1);
        finish(b0);
        assertTrue(q.allDone());
        Map<TopicPartition, List<RecordTask>> rest = q.ready();
        assertEquals(List.of(11L, 12L), offsets(rest.get(P0)));
        assertEquals(List.of(5L, 6L), offsets(rest.get(P1)));
        q.remove(rest);
        assertTrue(q.isEmpty());
    }

    @Test
    void droppingARevokedPartitionReturnsItsRecordsAndKeepsTheOthers() {
        PartitionQueues q = new PartitionQueues();
        q.add(task(P0, 1));
        q.add(task(P1, 1));
        q.add(task(P1, 2));
        assertEquals(List.of(1L, 2L), offsets(q.drop(List.of(P1))));
        assertEquals(1, q.size());
        assertEquals(Map.of(P0, 1L), q.firstOffsets());
        assertEquals(1, q.dropAll().size());
        assertTrue(q.isEmpty());
    }

    @Test
    void aRecordBehindAPendingOneMeansThePositionMovedBackUnnoticed() {
        PartitionQueues q = new PartitionQueues();
        q.add(task(P0, 7));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> q.add(task(P0, 7)));
        assertTrue(e.getMessage().contains("requests-0@7"), e.getMessage());
    }

    @Test
    void aTaskKnowsWhetherItIsADeadLetterOrAFailedResult() {
        RecordTask ok = task(P0, 1);
        RecordTask refused = task(P0, 2);
        finish(ok);
        refused.finishResult(new ProducerRecord<>("results", new byte[0]), 404);
        RecordTask dead = new RecordTask(new ConsumerRecord<>("requests", 0, 3, null, null), BatchInput.parse(null));
        dead.finishDeadLetter(new ProducerRecord<>("dlq", new byte[0]));
        assertFalse(ok.failed() || ok.deadLettered());
        assertTrue(refused.failed() && !refused.deadLettered());
        assertTrue(dead.deadLettered() && !dead.failed());
        assertThrows(IllegalStateException.class, () -> finish(ok), "a record is finished once");
    }
}
