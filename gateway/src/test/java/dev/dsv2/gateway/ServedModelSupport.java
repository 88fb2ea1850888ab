package dev.dsv2.gateway;

import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.gateway.router.EmbeddedRouter;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Shared by the Quarkus tests: waits for the demo model, and reads the embedded router's cache. */
final class ServedModelSupport {
    static final Duration LOAD_TIMEOUT = Duration.ofMinutes(3);

    private ServedModelSupport() {
    }

    static ServedModel await(ModelHost host) {
        try {
            assertTrue(host.awaitSettled(LOAD_TIMEOUT), () -> "model did not load: " + host.describe());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail(e);
        }
        return host.served();
    }

    static EmbeddedRouter embedded(ModelHost host) {
        return (EmbeddedRouter) await(host).router();
    }

    /** Waits until every KV cache block is free again (aborts and completions are asynchronous). */
    static void awaitCacheEmpty(ModelHost host) throws InterruptedException {
        EmbeddedRouter router = embedded(host);
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (router.cache().usedBlocks() != 0 || router.stats().running() != 0) {
            if (System.nanoTime() > deadline) {
                fail("KV cache still holds " + router.cache().usedBlocks() + " blocks, " + router.stats().running()
                        + " sequences running");
            }
            Thread.sleep(10);
        }
    }
}
