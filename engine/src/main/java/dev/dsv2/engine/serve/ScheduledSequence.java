package dev.dsv2.engine.serve;

import dev.dsv2.engine.cache.CacheSequence;
import dev.dsv2.engine.generate.RequestState;

/**
 * One request's scheduling state: its tokens and sampling state, its listener, and (while admitted) its cache
 * sequence. Owned by the scheduler thread; only {@link #id} is read elsewhere.
 */
final class ScheduledSequence implements StepPlanner.Sequence {
    final String id;
    final RequestState state;
    final GenerationListener listener;
    /** The cache blocks while running; null while waiting (not yet admitted, or preempted). */
    CacheSequence cacheSeq;
    /** Admission order: the highest is the youngest, preempted first. */
    long admittedAt;
    boolean done;

    ScheduledSequence(String id, RequestState state, GenerationListener listener) {
        this.id = id;
        this.state = state;
        this.listener = listener;
    }

    /** Prompt + generated tokens: what the cache must hold before the next logits. */
    @Override
    public int total() {
        return state.length();
    }

    @Override
    public int cached() {
        return cacheSeq.length();
    }

    @Override
    public int tokenAt(int pos) {
        int[] prompt = state.prompt();
        return pos < prompt.length ? prompt[pos] : state.outputToken(pos - prompt.length);
    }

    @Override
    public CacheSequence cacheSequence() {
        return cacheSeq;
    }
}
