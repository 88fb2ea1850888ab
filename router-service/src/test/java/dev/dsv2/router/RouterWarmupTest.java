package dev.dsv2.router;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.testsupport.CollectingListener;
import dev.dsv2.testsupport.TestCheckpoints;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The router's start-up warm-up: ready only after it, and its generated steps stay out of the step metrics. */
class RouterWarmupTest {
    @Test
    void theWarmUpRunsBeforeReadinessAndItsStepsAreNotObserved() throws Exception {
        AtomicInteger observed = new AtomicInteger();
        try (RouterEngine engine = RouterEngine.create(RouterEngine.Settings.local(TestCheckpoints.tiny(1), 2)
                .withCache(2048, 512), null)) {
            engine.setStepObserver((rows, decode, seqs, nanos) -> observed.incrementAndGet());
            engine.load(null);
            assertTrue(engine.awaitReady(Duration.ofSeconds(60)), engine.state());
            assertEquals("model loaded; experts in-process", engine.state());
            assertTrue(engine.scheduler().stats().steps() > 20, "the warm-up's steps ran: "
                    + engine.scheduler().stats().steps());
            assertEquals(0, observed.get(), "no warm-up step reached the observer");

            CollectingListener c = new CollectingListener();
            engine.scheduler().submit("r", new int[] {3, 5, 7}, SamplingParams.greedy(4).toBuilder().ignoreEos(true)
                    .build(), c);
            assertEquals(FinishReason.LENGTH, c.done.get(60, TimeUnit.SECONDS), c.errorMessage);
            assertTrue(observed.get() >= 4, "a request's steps are observed: " + observed.get());
        }
    }
}
