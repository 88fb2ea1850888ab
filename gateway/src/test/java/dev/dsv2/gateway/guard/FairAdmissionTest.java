package dev.dsv2.gateway.guard;

import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.core.SequenceSpec;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fair admission: a request that can never fit is a 400 at once (it was a retryable 429), one owner cannot take the
 * whole budget, queued requests are served round-robin between owners, and a 429 comes only after a bounded wait.
 */
class FairAdmissionTest {

    static GuardSettings settings(int perRequest, long tokens, int budget, double share, Duration wait) {
        return new GuardSettings(ApiKeys.none(), List.of(), perRequest, tokens, budget, share, wait, 2,
                Duration.ofSeconds(30));
    }

    static List<SequenceSpec> sequences(int n, int maxTokens) {
        List<SequenceSpec> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new SequenceSpec(i, new int[]{1, 2, 3}, SamplingParams.builder().maxTokens(maxTokens).build()));
        }
        return out;
    }

    @Test
    void aRequestThatCanNeverFitIs400NotARetryable429() {
        FairAdmission admission = new FairAdmission(settings(512, 1 << 20, 2048, 0.5, Duration.ofSeconds(1)));

        ApiError many = assertThrows(ApiError.class, () -> admission.admit("a", sequences(100 * 128, 16)));
        assertEquals(ApiError.Kind.INVALID_ARGUMENT, many.kind());
        assertEquals(FairAdmission.REQUEST_TOO_LARGE, many.code());
        assertTrue(many.getMessage().contains("12800 sequences"), many.getMessage());

        ApiError tokens = assertThrows(ApiError.class, () -> admission.admit("a", sequences(256, 8192)));
        assertEquals(ApiError.Kind.INVALID_ARGUMENT, tokens.kind());
        assertTrue(tokens.getMessage().contains("dsv2.gateway.max-request-tokens"), tokens.getMessage());
        assertEquals(0, admission.used());
    }

    @Test
    void oneOwnerHoldsAtMostItsShareAndTheRestStaysForOthers() {
        FairAdmission admission = new FairAdmission(settings(128, 1 << 20, 512, 0.5, Duration.ofMillis(50)));
        FairAdmission.Ticket first = admission.admit("greedy", sequences(128, 16));
        admission.admit("greedy", sequences(128, 16));
        ApiError third = assertThrows(ApiError.class, () -> admission.admit("greedy", sequences(128, 16)));
        assertEquals(ApiError.Kind.RESOURCE_EXHAUSTED, third.kind(), "over its share: transient, retry later");
        assertEquals(256, admission.held("greedy"));

        FairAdmission.Ticket other = admission.admit("polite", sequences(128, 16));
        assertEquals(384, admission.used());
        first.close();
        first.close(); // idempotent
        other.close();
        assertEquals(128, admission.used());
    }

    @Test
    void queuedRequestsAreServedRoundRobinBetweenOwners() throws Exception {
        FairAdmission admission = new FairAdmission(settings(10, 1 << 20, 10, 1.0, Duration.ofSeconds(20)));
        FairAdmission.Ticket full = admission.admit("a", sequences(10, 4));
        List<String> order = Collections.synchronizedList(new ArrayList<>());
        List<CompletableFuture<Void>> waiting = new ArrayList<>();
        java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor();
        // Owner a queues three requests before b queues one: b must not wait behind all of a's.
        for (String owner : List.of("a", "a", "a", "b")) {
            waiting.add(CompletableFuture.runAsync(() -> {
                try (FairAdmission.Ticket t = admission.admit(owner, sequences(10, 4))) {
                    order.add(owner);
                }
            }, threads));
            Thread.sleep(100); // a deterministic queue order
        }
        full.close();
        CompletableFuture.allOf(waiting.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
        assertEquals(4, order.size());
        assertTrue(order.indexOf("b") <= 1, "b is served within the first two turns: " + order);
        assertEquals(0, admission.used());
        threads.shutdown();
    }

    @Test
    void a429ComesOnlyAfterTheBoundedWaitAndLeavesNothingQueued() {
        FairAdmission admission = new FairAdmission(settings(4, 1 << 20, 4, 1.0, Duration.ofMillis(200)));
        FairAdmission.Ticket full = admission.admit("a", sequences(4, 4));
        long start = System.nanoTime();
        ApiError busy = assertThrows(ApiError.class, () -> admission.admit("b", sequences(1, 4)));
        long waitedMs = (System.nanoTime() - start) / 1_000_000;
        assertEquals(ApiError.Kind.RESOURCE_EXHAUSTED, busy.kind());
        assertTrue(waitedMs >= 150 && waitedMs < 5_000, "waited " + waitedMs + " ms");
        assertTrue(busy.getMessage().contains("retry after"), busy.getMessage());
        full.close();
        FairAdmission.Ticket next = admission.admit("b", sequences(4, 4));
        assertEquals(4, admission.used(), "the timed-out waiter took nothing");
        next.close();
        assertFalse(admission.used() != 0);
    }
}
