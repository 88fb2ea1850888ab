package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;
import dev.dsv2.engine.kernel.scalar.ScalarBackend;
import dev.dsv2.engine.model.Workspace;
import dev.dsv2.testsupport.TestCheckpoints;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host backends' buffers: allocated zeroed and owned by the backend, copies in and out by offset, and the
 * hand-offs that must not copy on the CPU (the logits' host view, host arrays wrapped for the expert service) alias
 * the arrays themselves. Workspace slots and the latent cache take their buffers from the backend they are bound to.
 */
class HostBuffersTest {

    private static Backend backend(String name) {
        return name.equals("vector") ? new VectorBackend(1) : new ScalarBackend();
    }

    @ParameterizedTest
    @ValueSource(strings = {"vector", "scalar"})
    void buffersAreZeroedOwnedAndCopiedByOffset(String name) {
        try (Backend be = backend(name); Buffer b = be.allocate(8)) {
            assertEquals(8, b.length());
            assertSame(be, b.backend());
            assertTrue(be.hostMemory());
            be.upload(new float[]{9, 1, 2, 3}, 1, b, 4, 3);
            float[] out = new float[10];
            be.download(b, 2, out, 1, 6);
            assertArrayEquals(new float[]{0, 0, 0, 1, 2, 3, 0, 0, 0, 0}, out);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"vector", "scalar"})
    void hostViewsAndWrappedArraysAliasTheArrayWithoutCopies(String name) {
        try (Backend be = backend(name); Buffer b = be.allocate(4)) {
            float[] view = be.hostView(b, 4);
            assertSame(view, be.hostView(b, 4), "the buffer's own array, every time");
            view[2] = 5f;
            be.commitHostView(view, b, 4);
            float[] out = new float[4];
            be.download(b, 0, out, 0, 4);
            assertEquals(5f, out[2]);

            float[] host = {1, 2, 3};
            Buffer wrapped = be.wrapHost(host, 3);
            assertSame(host, be.hostView(wrapped, 3));
            be.zero(wrapped, 1, 2);
            be.unwrapHost(wrapped, host, 3);
            assertArrayEquals(new float[]{1, 0, 0}, host);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"vector", "scalar"})
    void workspaceSlotsAndTheLatentCacheAreBuffersOfTheirBackend(String name) {
        try (Backend be = backend(name); Workspace ws = new Workspace(be)) {
            Buffer hidden = ws.get(Workspace.Slot.HIDDEN, 100);
            assertSame(be, hidden.backend());
            assertSame(hidden, ws.get(Workspace.Slot.HIDDEN, 50), "kept while large enough");
            assertTrue(ws.get(Workspace.Slot.HIDDEN, 101).length() >= 150, "grown by half at least");

            LatentKvCache cache = new LatentKvCache(TestCheckpoints.TINY, 3, 4, be);
            Buffer layer = cache.layer(0);
            assertSame(be, layer.backend());
            assertEquals(3L * 4 * TestCheckpoints.TINY.latentCacheDim(), layer.length());
        }
    }
}
