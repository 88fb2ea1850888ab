package dev.dsv2.engine.serve;

import dev.dsv2.engine.cache.CacheSequence;
import dev.dsv2.engine.cache.LatentKvCache;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.logging.Logger;

/**
 * Who holds KV cache blocks: the waiting queue (FIFO) and the running set (in admission order), on the scheduler
 * thread only.
 *
 * <p>Admission: a waiting request is admitted while there is a running slot and room for its reused prefix plus its
 * first prefill chunk; at admission it reuses the cached blocks of the longest full-block prefix it shares with
 * earlier requests. Preemption: when a decoding sequence needs a new block and none is free, the most recently
 * admitted sequence is preempted (its blocks freed, back to the head of the queue, recomputed later from its
 * tokens), so no request fails for lack of cache.
 */
final class AdmissionControl implements StepPlanner.Room<ScheduledSequence> {
    private static final Logger LOG = Logger.getLogger(AdmissionControl.class.getName());

    private final LatentKvCache cache;
    private final int maxRunning;
    private final int maxBatchTokens;
    private final Deque<ScheduledSequence> waiting = new ArrayDeque<>();
    private final List<ScheduledSequence> running = new ArrayList<>();
    private long admissionOrder;
    private long preemptions;

    AdmissionControl(LatentKvCache cache, int maxRunning, int maxBatchTokens) {
        this.cache = cache;
        this.maxRunning = maxRunning;
        this.maxBatchTokens = maxBatchTokens;
    }

    void enqueue(ScheduledSequence s) {
        waiting.addLast(s);
    }

    /** Moves waiting requests into the running set while their prompts fit in free blocks (FIFO). */
    void admit() {
        while (!waiting.isEmpty() && running.size() < maxRunning) {
            ScheduledSequence s = waiting.peekFirst();
            CacheSequence cs = cache.newSequence();
            int reused = cache.matchPrefix(cs, s::tokenAt, s.total() - 1);
            int firstChunk = reused + Math.min(s.total() - reused, maxBatchTokens);
            if (!cache.reserve(cs, firstChunk)) {
                cache.free(cs);
                return;
            }
            waiting.pollFirst();
            s.cacheSeq = cs;
            s.admittedAt = admissionOrder++;
            running.add(s);
        }
    }

    /** Reserves room for the decode token of {@code s}, preempting the youngest running sequences if needed. */
    @Override
    public boolean forDecode(ScheduledSequence s) {
        while (!cache.reserve(s.cacheSeq, s.total())) {
            ScheduledSequence victim = null;
            for (ScheduledSequence r : running) {
                if (victim == null || r.admittedAt > victim.admittedAt) {
                    victim = r;
                }
            }
            preempt(victim);
            if (victim == s) {
                return false;
            }
        }
        return true;
    }

    @Override
    public boolean forPrefill(ScheduledSequence s, int tokens) {
        return cache.reserve(s.cacheSeq, tokens);
    }

    @Override
    public boolean running(ScheduledSequence s) {
        return s.cacheSeq != null && !s.done;
    }

    private void preempt(ScheduledSequence s) {
        cache.free(s.cacheSeq);
        s.cacheSeq = null;
        running.remove(s);
        waiting.addFirst(s);
        preemptions++;
        LOG.fine(() -> "preempted " + s.id + " (" + s.total() + " tokens) for lack of KV cache blocks");
    }

    /** Frees the blocks of a finished or failed sequence and forgets it. */
    void release(ScheduledSequence s) {
        s.done = true;
        if (s.cacheSeq != null) {
            cache.free(s.cacheSeq);
        }
        running.remove(s);
        waiting.remove(s);
    }

    /** Indexes the full blocks a step completed, for prefix reuse by later requests. */
    void registerBlocks(List<ScheduledSequence> seqs) {
        for (ScheduledSequence s : seqs) {
            if (s.cacheSeq != null) {
                cache.registerFullBlocks(s.cacheSeq, s::tokenAt);
            }
        }
    }

    /** Running sequences, oldest admission first (the planner's order). */
    List<ScheduledSequence> running() {
        return running;
    }

    /** Running and waiting sequences, for failing them all at shutdown. */
    List<ScheduledSequence> all() {
        List<ScheduledSequence> all = new ArrayList<>(running);
        all.addAll(waiting);
        return all;
    }

    boolean idle() {
        return running.isEmpty() && waiting.isEmpty();
    }

    int runningCount() {
        return running.size();
    }

    int waitingCount() {
        return waiting.size();
    }

    long preemptions() {
        return preemptions;
    }
}
