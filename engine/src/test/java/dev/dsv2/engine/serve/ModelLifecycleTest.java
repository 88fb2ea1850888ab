package dev.dsv2.engine.serve;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** LOADING -> READY | FAILED, listeners, and closing before, during and after loading. */
class ModelLifecycleTest {
    private final List<String> closed = new ArrayList<>();

    private ModelLifecycle<String> lifecycle() {
        return new ModelLifecycle<>("the model", closed::add);
    }

    @Test
    void loadingReportsProgressThenTheValueIsReadyAndListenersRun() {
        ModelLifecycle<String> l = lifecycle();
        List<String> heard = new ArrayList<>();
        l.onReady(heard::add);
        l.progress("mapping weights");
        assertEquals(ModelLifecycle.State.LOADING, l.state());
        assertEquals("the model is loading (mapping weights)", l.describe());
        assertNull(l.orNull());
        assertTrue(l.load(() -> "weights"));
        assertEquals(ModelLifecycle.State.READY, l.state());
        assertEquals("weights", l.orNull());
        assertEquals(List.of("weights"), heard);
        l.onReady(v -> heard.add(v + " again"));
        assertEquals(List.of("weights", "weights again"), heard, "a late listener runs at once");
        l.close();
        assertEquals(List.of("weights"), closed);
        assertFalse(l.ifReady().isPresent());
    }

    @Test
    void aFailedLoadKeepsItsMessageAndIsNotRetried() throws Exception {
        ModelLifecycle<String> l = lifecycle();
        assertFalse(l.load(() -> {
            throw new IllegalStateException("config.json is missing");
        }));
        assertEquals(ModelLifecycle.State.FAILED, l.state());
        assertEquals("config.json is missing", l.failure());
        assertEquals("the model failed to load: config.json is missing", l.describe());
        assertFalse(l.awaitSettled(Duration.ofMillis(1)));
        assertFalse(l.load(() -> "second try"), "loads once");
        assertNull(l.orNull());
    }

    @Test
    void anErrorAlsoFailsTheLoad() {
        ModelLifecycle<String> l = lifecycle();
        assertFalse(l.load(() -> {
            throw new OutOfMemoryError("Java heap space");
        }));
        assertEquals("Java heap space", l.failure());
    }

    @Test
    void aValueArrivingAfterCloseIsClosedNotPublished() throws Exception {
        ModelLifecycle<String> l = lifecycle();
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        l.startLoading("test-loader", () -> {
            started.countDown();
            release.await();
            return "late";
        });
        assertTrue(started.await(10, TimeUnit.SECONDS));
        l.close();
        release.countDown();
        assertFalse(l.awaitSettled(Duration.ofSeconds(10)));
        assertNull(l.orNull());
        assertEquals(List.of("late"), closed);
    }
}
