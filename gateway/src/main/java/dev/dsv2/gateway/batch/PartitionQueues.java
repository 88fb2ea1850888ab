package dev.dsv2.gateway.batch;

import org.apache.kafka.common.TopicPartition;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The consumed records not yet committed, per partition in offset order. Records of a partition finish in any order
 * (they generate concurrently), but a transaction only ever takes a partition's finished <em>prefix</em>, and commits
 * the offset right after it: an offset is never committed while a record before it has no result in the same or an
 * earlier transaction. Used by the processor's loop thread only.
 */
final class PartitionQueues {
    private final Map<TopicPartition, ArrayDeque<RecordTask>> queues = new LinkedHashMap<>();
    private int size;

    /** Appends a consumed record; records of one partition must arrive in increasing offset order. */
    void add(RecordTask task) {
        ArrayDeque<RecordTask> q = queues.computeIfAbsent(task.partition(), tp -> new ArrayDeque<>());
        RecordTask last = q.peekLast();
        if (last != null && task.offset() <= last.offset()) {
            throw new IllegalStateException("record " + task.partition() + "@" + task.offset() + " arrived after "
                    + "offset " + last.offset() + " is still pending: the consumer position moved back without "
                    + "the pending records being dropped");
        }
        q.addLast(task);
        size++;
    }

    /** Records held (finished or not). */
    int size() {
        return size;
    }

    boolean isEmpty() {
        return size == 0;
    }

    /** Whether every held record is finished. */
    boolean allDone() {
        for (ArrayDeque<RecordTask> q : queues.values()) {
            for (RecordTask t : q) {
                if (!t.done()) {
                    return false;
                }
            }
        }
        return true;
    }

    /** Whether some partition's first record is finished (a transaction has something to commit). */
    boolean hasReady() {
        for (ArrayDeque<RecordTask> q : queues.values()) {
            RecordTask head = q.peekFirst();
            if (head != null && head.done()) {
                return true;
            }
        }
        return false;
    }

    /** Per partition with a finished first record: the finished prefix, in offset order. */
    Map<TopicPartition, List<RecordTask>> ready() {
        Map<TopicPartition, List<RecordTask>> ready = new LinkedHashMap<>();
        queues.forEach((tp, q) -> {
            List<RecordTask> prefix = new ArrayList<>();
            for (RecordTask t : q) {
                if (!t.done()) {
                    break;
                }
                prefix.add(t);
            }
            if (!prefix.isEmpty()) {
                ready.put(tp, prefix);
            }
        });
        return ready;
    }

    /** Removes what {@link #ready()} returned, once its transaction has committed. */
    void remove(Map<TopicPartition, List<RecordTask>> committed) {
        committed.forEach((tp, tasks) -> {
            ArrayDeque<RecordTask> q = queues.get(tp);
            for (RecordTask t : tasks) {
                if (q == null || q.peekFirst() != t) {
                    throw new IllegalStateException("committed record " + tp + "@" + t.offset()
                            + " is not at the head of its partition's pending records");
                }
                q.removeFirst();
                size--;
            }
            if (q.isEmpty()) {
                queues.remove(tp);
            }
        });
    }

    /** The offset of each partition's first pending record: where to re-read from after an abort. */
    Map<TopicPartition, Long> firstOffsets() {
        Map<TopicPartition, Long> first = new HashMap<>();
        queues.forEach((tp, q) -> first.put(tp, q.getFirst().offset()));
        return first;
    }

    /** Removes and returns every pending record of {@code partitions}. */
    List<RecordTask> drop(Collection<TopicPartition> partitions) {
        List<RecordTask> dropped = new ArrayList<>();
        for (TopicPartition tp : partitions) {
            ArrayDeque<RecordTask> q = queues.remove(tp);
            if (q != null) {
                dropped.addAll(q);
                size -= q.size();
            }
        }
        return dropped;
    }

    /** Removes and returns every pending record. */
    List<RecordTask> dropAll() {
        return drop(List.copyOf(queues.keySet()));
    }
}
