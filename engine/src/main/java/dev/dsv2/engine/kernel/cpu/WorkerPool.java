package dev.dsv2.engine.kernel.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A persistent pool of kernel worker threads: {@link #parallelFor} splits a range into chunks that the workers and
 * the calling thread take from a shared counter. Workers spin briefly (50 µs) for the next job, then park until a
 * call unparks them: a decode step's many small kernels don't pay a thread wake-up each, and an idle pool uses no CPU
 * at all (no timed wake-ups), so several processes on one host (router and expert shards co-located, as
 * {@code serve-local} runs them) take the cores only while they have work. Re-entrant and concurrent calls run
 * inline rather than wait.
 *
 * <p>The job description is one reused object, so a call allocates nothing itself. Reuse is safe because a call
 * returns only after every worker has left the job: the caller closes the job ({@code open = false}) and waits for
 * {@code inside} to drop to zero; a worker enters by incrementing {@code inside} and then checking {@code open}, so
 * one that arrives late sees the job closed and leaves without touching it.
 */
public final class WorkerPool implements AutoCloseable {

    /** Work over the half-open index range {@code [from, to)}. */
    @FunctionalInterface
    public interface RangeTask {
        void run(int from, int to);
    }

    private static final long SPIN_NANOS = 50_000;
    /** Most chunks per thread in one call: fine enough to balance, coarse enough that hand-offs stay cheap. */
    private static final int CHUNKS_PER_THREAD = 16;

    private final Thread[] workers;
    private final AtomicInteger busy = new AtomicInteger();
    private final Job job = new Job();
    /** Incremented by each call that hands out work; workers watch it. */
    private volatile int generation;
    /** Whether {@link #job} may be worked on; written by the calling thread only. */
    private volatile boolean open;
    /** Workers between entering and leaving {@link #job}. */
    private final AtomicInteger inside = new AtomicInteger();
    private volatile boolean closed;

    private static final class Job {
        RangeTask task;
        int n;
        int chunk;
        int chunks;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        volatile Throwable failure;

        void reset(RangeTask task, int n, int chunk) {
            this.task = task;
            this.n = n;
            this.chunk = chunk;
            this.chunks = (n + chunk - 1) / chunk;
            next.set(0);
            done.set(0);
            failure = null;
        }

        /** Takes and runs chunks until none are left. */
        void work() {
            int c;
            while ((c = next.getAndIncrement()) < chunks) {
                try {
                    int from = c * chunk;
                    task.run(from, Math.min(n, from + chunk));
                } catch (Throwable t) {
                    failure = t;
                } finally {
                    done.incrementAndGet();
                }
            }
        }
    }

    public WorkerPool(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = Thread.ofPlatform().daemon().name("dsv2-kernel-" + (i + 1)).start(this::workerLoop);
        }
    }

    public int threads() {
        return workers.length + 1;
    }

    /** The worker threads (not the callers), for tests of their idle state. */
    java.util.List<Thread> workerThreads() {
        return java.util.List.of(workers);
    }

    /**
     * Whether a {@link #parallelFor} is running (called from inside one of its tasks: true). A call made now would run
     * inline on the calling thread, so a caller can do so directly and skip creating the task.
     */
    public boolean busy() {
        return busy.get() != 0;
    }

    /**
     * Runs {@code task} over {@code [0, n)} in chunks of at least {@code grain} indices, on all threads, and returns
     * when every chunk is done and no worker holds the task any more. A failure in any chunk is rethrown here.
     */
    public void parallelFor(int n, int grain, RangeTask task) {
        if (n <= 0) {
            return;
        }
        int threads = threads();
        if (threads == 1 || n <= grain || !busy.compareAndSet(0, 1)) {
            task.run(0, n);
            return;
        }
        Job j = job;
        try {
            int chunks = Math.min((n + grain - 1) / grain, threads * CHUNKS_PER_THREAD);
            j.reset(task, n, (n + chunks - 1) / chunks);
            open = true;
            generation++;
            for (Thread w : workers) {
                LockSupport.unpark(w);
            }
            j.work();
            long waitStart = 0;
            while (j.done.get() < j.chunks) {
                if (waitStart == 0) {
                    waitStart = System.nanoTime();
                } else if (System.nanoTime() - waitStart > SPIN_NANOS) {
                    Thread.yield(); // a preempted worker holds the last chunk: let it run
                }
                Thread.onSpinWait();
            }
            open = false;
            while (inside.get() != 0) {
                Thread.onSpinWait(); // a worker is leaving the job (or arrived late and is backing off)
            }
            Throwable failure = j.failure;
            j.task = null;
            if (failure != null) {
                if (failure instanceof RuntimeException re) {
                    throw re;
                }
                if (failure instanceof Error err) {
                    throw err;
                }
                throw new IllegalStateException(failure);
            }
        } finally {
            busy.set(0);
        }
    }

    private void workerLoop() {
        int seen = generation;
        while (!closed) {
            int g = generation;
            if (g != seen) {
                seen = g;
                inside.incrementAndGet();
                try {
                    if (open) {
                        job.work();
                    }
                } finally {
                    inside.decrementAndGet();
                }
                continue;
            }
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while (generation == seen) {
                if (closed) {
                    return;
                }
                if (System.nanoTime() < spinUntil) {
                    Thread.onSpinWait();
                } else {
                    // Untimed: parallelFor unparks every worker after bumping the generation (a permit given before
                    // this park makes it return at once), close() too; a spurious return re-checks the loop.
                    LockSupport.park(this);
                }
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
