package dev.dsv2.engine.serve;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link WakeLatency}: the slice a thread gets, read back from the kernel ({@code /proc/thread-self/sched}'s
 * {@code se.slice}, a second path beside {@code sched_getattr}); skipped where the kernel has no per-thread slice
 * (before Linux 6.12, or not Linux).
 */
class WakeLatencyTest {

    @AfterEach
    void defaults() {
        WakeLatency.configure(key -> Optional.empty());
    }

    /** The calling thread's slice as the kernel reports it in /proc, or -1 where it does not. */
    private static long procSlice() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/thread-self/sched"))) {
                if (line.startsWith("se.slice")) {
                    return Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** Runs {@code body} on a fresh thread (marks are per thread and permanent) and returns what it returned. */
    private static long onFreshThread(java.util.function.LongSupplier body) throws InterruptedException {
        AtomicLong result = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                result.set(body.getAsLong());
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        t.join();
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        return result.get();
    }

    private static void assumePerThreadSlices() throws InterruptedException {
        long before = onFreshThread(WakeLatencyTest::procSlice);
        assumeTrue(before > 0, "this kernel reports no se.slice in /proc/thread-self/sched");
        long own = onFreshThread(WakeLatency::ownSlice);
        assumeTrue(own == before, "sched_getattr reports no per-thread slice (" + own + " vs /proc " + before + ")");
    }

    @Test
    void aTransportThreadKeepsTheShortSliceAndOthersKeepTheDefault() throws InterruptedException {
        assumePerThreadSlices();
        long defaultSlice = onFreshThread(WakeLatencyTest::procSlice);
        assertTrue(defaultSlice > 100_000, "the default slice " + defaultSlice + " ns should exceed 100 us");
        long marked = onFreshThread(() -> {
            WakeLatency.markTransportThread();
            WakeLatency.markTransportThread(); // once per thread: the second call changes nothing
            return procSlice();
        });
        assertEquals(WakeLatency.DEFAULT_MICROS * 1000, marked);
        assertEquals(defaultSlice, onFreshThread(WakeLatencyTest::procSlice), "a thread never marked");

        WakeLatency.configure(key -> Optional.ofNullable(Map.of(WakeLatency.KEY, "250").get(key)));
        assertEquals(250_000, onFreshThread(() -> {
            WakeLatency.markTransportThread();
            return procSlice();
        }));
    }

    @Test
    void aWaitingThreadHasTheShortSliceOnlyWhileItWaits() throws InterruptedException {
        assumePerThreadSlices();
        long[] seen = new long[3];
        onFreshThread(() -> {
            seen[0] = procSlice();
            try (WakeLatency.Scope waiting = WakeLatency.whileWaiting()) {
                seen[1] = procSlice();
            }
            seen[2] = procSlice();
            return 0;
        });
        assertEquals(WakeLatency.DEFAULT_MICROS * 1000, seen[1], "while waiting");
        assertEquals(seen[0], seen[2], "restored after the wait");
        assertTrue(seen[0] != seen[1]);
    }

    @Test
    void zeroTurnsItOff() throws InterruptedException {
        assumePerThreadSlices();
        WakeLatency.configure(key -> Optional.ofNullable(Map.of(WakeLatency.KEY, "0").get(key)));
        assertEquals(0, WakeLatency.sliceNanos());
        long defaultSlice = onFreshThread(WakeLatencyTest::procSlice);
        assertEquals(defaultSlice, onFreshThread(() -> {
            WakeLatency.markTransportThread();
            try (WakeLatency.Scope waiting = WakeLatency.whileWaiting()) {
                return procSlice();
            }
        }));
    }

    @Test
    void badValuesAreRefusedNamingTheKey() {
        for (String bad : new String[]{"-1", "100001", "fast", "1.5"}) {
            String message = assertThrows(IllegalArgumentException.class, () -> WakeLatency.configure(
                    key -> Optional.ofNullable(Map.of(WakeLatency.KEY, bad).get(key)))).getMessage();
            assertTrue(message.contains(WakeLatency.KEY) && message.contains("DSV2_WAKE_SLICE_US")
                    && message.contains("'" + bad + "'"), message);
        }
        WakeLatency.configure(key -> Optional.of(" 300 "));
        assertEquals(300_000, WakeLatency.sliceNanos());
    }
}
