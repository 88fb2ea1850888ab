package dev.dsv2.engine.kernel.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;

import static dev.dsv2.engine.kernel.cpu.Lanes.F;
import static dev.dsv2.engine.kernel.cpu.Lanes.L;

/**
 * The machine's own roofline, measured in the running JVM with the same Vector API the kernels use, so a benchmark
 * can report its figures as fractions of what this machine delivers right now:
 * <ul>
 *   <li>{@link #memoryReadBandwidth}: a STREAM-like read-and-sum over an off-heap buffer far larger than the caches,
 *       every thread reading its own slice, best of several passes (bytes read / wall time);</li>
 *   <li>{@link #peakFmaFlops}: a register-only loop of independent vector FMAs on every thread, best of several
 *       passes (2 flops per lane per FMA).</li>
 * </ul>
 * Both use their own threads (started per measurement) and warm the loop up before timing it.
 */
public final class Roofline {
    private static volatile float sink;

    private Roofline() {
    }

    /** Best read bandwidth in bytes/s over {@code passes} passes of {@code bytes} with {@code threads} threads. */
    public static double memoryReadBandwidth(long bytes, int threads, int passes) {
        try (ReadProbe probe = new ReadProbe(bytes, threads)) {
            return probe.measure(passes);
        }
    }

    /**
     * A read-bandwidth measurement that keeps its buffer, so it can be repeated cheaply — e.g. interleaved with a
     * workload, to compare the workload with what the memory system delivers at the same time.
     */
    public static final class ReadProbe implements AutoCloseable {
        private final Arena arena = Arena.ofShared();
        private final MemorySegment buf;
        private final long slice;
        private final int threads;

        /** Allocates and touches a buffer of about {@code bytes} (every page written once). */
        public ReadProbe(long bytes, int threads) {
            this.threads = threads;
            this.slice = bytes / threads / (16L * F.vectorByteSize()) * (16L * F.vectorByteSize());
            this.buf = arena.allocate(slice * threads, 4096);
            for (long off = 0; off < buf.byteSize(); off += 4096) {
                buf.set(java.lang.foreign.ValueLayout.JAVA_FLOAT, off, 1f);
            }
            MemorySegment small = arena.allocate(64 * 1024, 64);
            for (int i = 0; i < 20_000; i++) {
                sink += readSum(small, 0, small.byteSize());
            }
        }

        /** Bytes of the buffer (resident while the probe is open). */
        public long bytes() {
            return buf.byteSize();
        }

        /** Best read bandwidth in bytes/s over {@code passes} passes, each thread reading its own slice. */
        public double measure(int passes) {
            double best = 0;
            for (int p = 0; p < passes; p++) {
                double seconds = runOnThreads(threads, t -> sink += readSum(buf, t * slice, (t + 1) * slice));
                best = Math.max(best, slice * threads / seconds);
            }
            return best;
        }

        @Override
        public void close() {
            arena.close();
        }
    }

    /** Best FMA throughput in flop/s over {@code passes} passes of about {@code seconds} each, on {@code threads} threads. */
    public static double peakFmaFlops(int threads, int passes, double seconds) {
        for (int i = 0; i < 2_000; i++) {
            sink += fmaLoop(1000);
        }
        long t0 = System.nanoTime();
        sink += fmaLoop(1_000_000);
        double perIter = (System.nanoTime() - t0) / 1e9 / 1_000_000;
        int iters = (int) Math.max(10_000, Math.min(Integer.MAX_VALUE / 2, seconds / Math.max(perIter, 1e-12)));
        double best = 0;
        for (int p = 0; p < passes; p++) {
            double s = runOnThreads(threads, t -> sink += fmaLoop(iters));
            best = Math.max(best, (double) threads * iters * FMA_CHAINS * L * 2 / s);
        }
        return best;
    }

    private static final int FMA_CHAINS = 12;

    /** {@code iters} × 12 independent FMA chains (enough to cover FMA latency on two pipes). */
    static float fmaLoop(int iters) {
        FloatVector b = FloatVector.broadcast(F, 0.999999f);
        FloatVector c = FloatVector.broadcast(F, 1e-6f);
        FloatVector a0 = FloatVector.broadcast(F, 1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
        FloatVector a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (int i = 0; i < iters; i++) {
            a0 = a0.fma(b, c);
            a1 = a1.fma(b, c);
            a2 = a2.fma(b, c);
            a3 = a3.fma(b, c);
            a4 = a4.fma(b, c);
            a5 = a5.fma(b, c);
            a6 = a6.fma(b, c);
            a7 = a7.fma(b, c);
            a8 = a8.fma(b, c);
            a9 = a9.fma(b, c);
            a10 = a10.fma(b, c);
            a11 = a11.fma(b, c);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11)
                .reduceLanes(VectorOperators.ADD);
    }

    /** Sum of the floats in {@code seg[from, to)} with four independent vector accumulators. */
    static float readSum(MemorySegment seg, long from, long to) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int step = 4 * F.vectorByteSize();
        int vb = F.vectorByteSize();
        MemorySegment s = seg.asSlice(from, to - from);
        int n = (int) Math.min(Integer.MAX_VALUE - step, s.byteSize());
        for (int off = 0; off + step <= n; off += step) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, s, off, Lanes.LE));
            a1 = a1.add(FloatVector.fromMemorySegment(F, s, off + vb, Lanes.LE));
            a2 = a2.add(FloatVector.fromMemorySegment(F, s, off + 2 * vb, Lanes.LE));
            a3 = a3.add(FloatVector.fromMemorySegment(F, s, off + 3 * vb, Lanes.LE));
        }
        return a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
    }

    private interface PerThread {
        void run(int thread);
    }

    /** Runs {@code body} on {@code threads} new threads released together; returns the wall time in seconds. */
    private static double runOnThreads(int threads, PerThread body) {
        CyclicBarrier start = new CyclicBarrier(threads + 1);
        CyclicBarrier end = new CyclicBarrier(threads + 1);
        Thread[] ts = new Thread[threads];
        for (int i = 0; i < threads; i++) {
            int t = i;
            ts[i] = Thread.ofPlatform().name("dsv2-roofline-" + i).start(() -> {
                try {
                    start.await();
                    body.run(t);
                    end.await();
                } catch (InterruptedException | BrokenBarrierException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
        try {
            start.await();
            long t0 = System.nanoTime();
            end.await();
            double seconds = (System.nanoTime() - t0) / 1e9;
            for (Thread t : ts) {
                t.join();
            }
            return seconds;
        } catch (InterruptedException | BrokenBarrierException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("roofline measurement interrupted", e);
        }
    }
}
