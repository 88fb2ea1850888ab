package dev.dsv2.engine.serve;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Function;
import java.util.logging.Logger;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Short scheduler slices for the threads an expert call waits on: the gRPC event loops that carry it (router and
 * shard) and the router thread blocked on the answer, so that on a busy host each runs soon after it is woken.
 *
 * <p>Why: Linux 6.6+ schedules ordinary threads with EEVDF, which lets a running thread use up its slice (1.4 ms on
 * this 2-vCPU machine kind: 0.75 ms x (1 + log2 CPUs)) before a just-woken thread with the same slice takes the
 * core. Where the router and its expert shards compute on the same cores (co-located pods, {@code serve-local},
 * {@code bench-serving}), each hand-off of a layer's call (router thread, router event loop, shard event loop, shard
 * compute thread, and back) could wait most of a slice. Since Linux 6.12 a thread may ask for a shorter slice of its
 * own ({@code sched_setattr} with {@code sched_runtime}, policy SCHED_OTHER, no privilege needed): its virtual
 * deadline comes sooner, so its wake-up preempts the running compute thread. Its CPU share does not change (that is
 * the nice value's weight); it only runs in shorter turns, which suits threads that run for microseconds and sleep.
 * Measured with {@code perf sched} during {@code bench-serving} at concurrency 1 (router + 2 shards, 2 vCPUs): the
 * wake-up delay of the event loops p90 0.47-0.99 ms -> 0.07-0.09 ms, of the waiting router thread p99 1.2 -> 0.1 ms.
 *
 * <p>{@code dsv2.wake-slice-us} (environment {@code DSV2_WAKE_SLICE_US}; default 100, the kernel's minimum; 0 turns
 * it off; at most 100000) sets the slice; services pass their configuration to {@link #configure}. Elsewhere (not
 * Linux, a kernel before 6.12 ignores the field, a seccomp profile refusing the call) it does nothing: a refusal is
 * logged once and later calls return at once. Threads under a policy other than SCHED_OTHER (set by an operator) are
 * left alone.
 */
public final class WakeLatency {
    public static final String KEY = "dsv2.wake-slice-us";
    public static final long DEFAULT_MICROS = 100;
    private static final Logger LOG = Logger.getLogger(WakeLatency.class.getName());
    private static final boolean AARCH64 = "aarch64".equals(System.getProperty("os.arch"));
    /** {@code SYS_sched_setattr} / {@code SYS_sched_getattr} on x86-64 and on aarch64. */
    private static final long SETATTR = AARCH64 ? 274 : 314;
    private static final long GETATTR = AARCH64 ? 275 : 315;
    /** {@code struct sched_attr} (SCHED_ATTR_SIZE_VER1): u32 size, u32 policy, u64 flags, s32 nice, ...runtime. */
    private static final int ATTR_SIZE = 56;
    private static final long POLICY_OFFSET = 4;
    private static final long RUNTIME_OFFSET = 24;
    private static final MethodHandle SYSCALL = syscall();
    private static final ThreadLocal<Boolean> MARKED = ThreadLocal.withInitial(() -> false);
    private static volatile long slice = parse(Optional.ofNullable(System.getProperty(KEY))
            .or(() -> Optional.ofNullable(System.getenv("DSV2_WAKE_SLICE_US"))));
    private static volatile boolean refused = SYSCALL == null;

    private WakeLatency() {
    }

    /**
     * Sets the slice from {@code lookup}'s {@code dsv2.wake-slice-us} (unset: the default), for threads marked from
     * now on.
     *
     * @throws IllegalArgumentException naming the key and the value when it is not 0-100000
     */
    public static void configure(Function<String, Optional<String>> lookup) {
        slice = parse(lookup.apply(KEY));
    }

    /** The slice given to marked threads, in nanoseconds; 0 when off. */
    public static long sliceNanos() {
        return slice;
    }

    /**
     * Gives the calling thread the short slice for good (once per thread): for a transport thread, which only ever
     * runs briefly. A no-op where it is off or unsupported.
     */
    public static void markTransportThread() {
        if (refused || slice == 0 || MARKED.get()) {
            return;
        }
        MARKED.set(true);
        setOwnSlice(slice);
    }

    /**
     * Gives the calling thread the short slice until {@link Scope#close()} restores its own: for a compute thread
     * about to block on an answer, which then runs soon after the answer wakes it and computes in full slices again
     * once it closes the scope. Two system calls each way; a no-op where it is off or unsupported.
     */
    public static Scope whileWaiting() {
        long s = slice;
        if (refused || s == 0) {
            return Scope.NONE;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment attr = readAttr(arena);
            long own = runtime(attr);
            if (own <= 0 || own == s || !writeSlice(attr, s)) {
                return Scope.NONE;
            }
            return () -> setOwnSlice(own);
        } catch (Throwable t) {
            refuse(t.toString());
            return Scope.NONE;
        }
    }

    /** What {@link #whileWaiting()} returns: closing it restores the thread's slice. */
    public interface Scope extends AutoCloseable {
        Scope NONE = () -> { };

        @Override
        void close();
    }

    /** The calling thread's slice in nanoseconds, or -1 when it cannot be read or the policy is not SCHED_OTHER. */
    static long ownSlice() {
        try (Arena arena = Arena.ofConfined()) {
            return runtime(readAttr(arena));
        } catch (Throwable t) {
            refuse(t.toString());
            return -1;
        }
    }

    /** Sets the calling thread's slice (SCHED_OTHER only; other parameters as they are); whether it was set. */
    private static boolean setOwnSlice(long nanos) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment attr = readAttr(arena);
            return attr != null && writeSlice(attr, nanos);
        } catch (Throwable t) {
            refuse(t.toString());
            return false;
        }
    }

    /** The calling thread's {@code sched_attr}, or null (refused) when it cannot be read. */
    private static MemorySegment readAttr(Arena arena) throws Throwable {
        MemorySegment attr = arena.allocate(ATTR_SIZE, 8);
        long r = (long) SYSCALL.invokeExact(GETATTR, 0L, attr, (long) ATTR_SIZE, 0L);
        if (r != 0) {
            refuse("sched_getattr returned " + r);
            return null;
        }
        return attr;
    }

    /** The slice in {@code attr} (null: unread), or -1 when unread or the policy is not SCHED_OTHER. */
    private static long runtime(MemorySegment attr) {
        return attr != null && attr.get(JAVA_INT, POLICY_OFFSET) == 0 ? attr.get(JAVA_LONG, RUNTIME_OFFSET) : -1;
    }

    /** Writes {@code attr} back with the slice {@code nanos} (SCHED_OTHER only); whether the kernel took it. */
    private static boolean writeSlice(MemorySegment attr, long nanos) throws Throwable {
        if (attr.get(JAVA_INT, POLICY_OFFSET) != 0) {
            return false;
        }
        attr.set(JAVA_INT, 0, ATTR_SIZE);
        attr.set(JAVA_LONG, RUNTIME_OFFSET, nanos);
        long r = (long) SYSCALL.invokeExact(SETATTR, 0L, attr, 0L, 0L);
        if (r != 0) {
            refuse("sched_setattr returned " + r);
        }
        return r == 0;
    }

    private static void refuse(String why) {
        if (!refused) {
            refused = true;
            LOG.info(() -> KEY + ": this kernel refused a thread its own scheduler slice (" + why
                    + "); event loops keep the default slice");
        }
    }

    static long parse(Optional<String> raw) {
        String v = raw.map(String::trim).filter(s -> !s.isEmpty()).orElse(null);
        if (v == null) {
            return DEFAULT_MICROS * 1000;
        }
        try {
            long us = Long.parseLong(v);
            if (us >= 0 && us <= 100_000) {
                return us * 1000;
            }
        } catch (NumberFormatException e) {
            // refused below
        }
        throw new IllegalArgumentException(KEY + " (DSV2_WAKE_SLICE_US): expected 0 (off) or 1-100000 microseconds"
                + " (the kernel raises values below 100 to 100), got '" + v + "'");
    }

    private static MethodHandle syscall() {
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
            return null;
        }
        try {
            Linker linker = Linker.nativeLinker();
            return linker.downcallHandle(linker.defaultLookup().find("syscall").orElseThrow(),
                    FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG),
                    Linker.Option.firstVariadicArg(1));
        } catch (RuntimeException | Error e) {
            return null;
        }
    }
}
