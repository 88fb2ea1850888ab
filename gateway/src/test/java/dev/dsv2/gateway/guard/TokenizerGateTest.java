package dev.dsv2.gateway.guard;

import dev.dsv2.gateway.core.ApiError;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The tokenizer bound: a burst queues instead of failing, CPU work never exceeds the threads, waits are bounded. */
class TokenizerGateTest {

    static GuardSettings settings(int threads, Duration wait) {
        return new GuardSettings(ApiKeys.none(), List.of(), 8, 1 << 20, 64, 0.5, wait, threads,
                Duration.ofSeconds(30));
    }

    @Test
    void aBurstOfRequestsQueuesAndRunsAtMostThreadsAtOnce() throws Exception {
        TokenizerGate gate = new TokenizerGate(settings(2, Duration.ofSeconds(30)));
        AtomicInteger running = new AtomicInteger();
        AtomicInteger most = new AtomicInteger();
        try (ExecutorService burst = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<Integer>> results = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                int n = i;
                results.add(burst.submit(() -> gate.run(() -> {
                    most.accumulateAndGet(running.incrementAndGet(), Math::max);
                    try {
                        Thread.sleep(2);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    running.decrementAndGet();
                    return n;
                })));
            }
            for (int i = 0; i < results.size(); i++) {
                assertEquals(i, results.get(i).get(30, TimeUnit.SECONDS), "every request of the burst ran");
            }
        }
        assertTrue(most.get() <= 2, "at most 2 at once, saw " + most.get());
    }

    @Test
    void aRequestThatWaitsLongerThanTheAdmissionWaitIs429() throws Exception {
        TokenizerGate gate = new TokenizerGate(settings(1, Duration.ofMillis(100)));
        CountDownLatch holding = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread busy = Thread.ofVirtual().start(() -> gate.run(() -> {
            holding.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return 0;
        }));
        assertTrue(holding.await(5, TimeUnit.SECONDS));
        ApiError e = assertThrows(ApiError.class, () -> gate.run(() -> 1));
        assertEquals(ApiError.Kind.RESOURCE_EXHAUSTED, e.kind());
        release.countDown();
        busy.join();
        assertEquals(1, gate.run(() -> 1), "free again");
    }
}
