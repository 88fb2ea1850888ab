package dev.dsv2.engine.kernel;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A persistent pool of kernel worker threads: {@link #parallelFor} splits a range into chunks that the workers and
 * the calling thread take from a shared counter. Workers spin briefly for the next job, then park, so a decode
 * step's many small kernels don't pay a thread hand-off each, yet idle workers don't starve the JIT on a
 * two-core machine. Re-entrant and concurrent calls run inline rather than wait.
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
    private volatile Job job;
    private volatile boolean closed;

    private static final class Job {
        final RangeTask task;
        final int n;
        final int chunk;
        final int chunks;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        volatile Throwable failure;

        Job(RangeTask task, int n, int chunk) {
            this.task = task;
            this.n = n;
            this.chunk = chunk;
            this.chunks = (n + chunk - 1) / chunk;
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

    /**
     * Whether a {@link #parallelFor} is running (called from inside one of its tasks: true). A call made now would run
     * inline on the calling thread, so a caller can do so directly and skip creating the task.
     */
    public boolean busy() {
        return busy.get() != 0;
    }

    /**
     * Runs {@code task} over {@code [0, n)} in chunks of at least {@code grain} indices, on all threads, and returns
     * when every chunk is done. A failure in any chunk is rethrown here.
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
        try {
            int chunks = Math.min((n + grain - 1) / grain, threads * CHUNKS_PER_THREAD);
            Job j = new Job(task, n, (n + chunks - 1) / chunks);
            job = j;
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
            job = null;
            if (j.failure != null) {
                if (j.failure instanceof RuntimeException re) {
                    throw re;
                }
                if (j.failure instanceof Error err) {
                    throw err;
                }
                throw new IllegalStateException(j.failure);
            }
        } finally {
            busy.set(0);
        }
    }

    private void workerLoop() {
        Job last = null;
        while (!closed) {
            Job j = job;
            if (j != null && j != last) {
                last = j;
                j.work();
                continue;
            }
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while ((j = job) == null || j == last) {
                if (closed) {
                    return;
                }
                if (System.nanoTime() < spinUntil) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(this, 1_000_000);
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
