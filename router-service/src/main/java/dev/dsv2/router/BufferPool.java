package dev.dsv2.router;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Reusable byte buffers for the hidden rows of the MoE layers in flight (a step's two micro-batches, plus calls
 * still being retried): {@link #take} hands out a buffer of at least the asked size, {@link #give} returns it once
 * nothing reads it any more. Buffers grow to the largest layer seen and are then reused, so steady-state decode
 * allocates no wire buffers. At most {@link #KEEP} idle buffers are kept.
 */
final class BufferPool {
    static final int KEEP = 8;

    private final ConcurrentLinkedQueue<ByteBuffer> idle = new ConcurrentLinkedQueue<>();

    /** A buffer with position 0 and at least {@code bytes} capacity (its limit is the capacity). */
    ByteBuffer take(int bytes) {
        ByteBuffer b = idle.poll();
        if (b == null || b.capacity() < bytes) {
            // Grow: the one that was too small is dropped, so the pool converges on the largest layer's size.
            b = ByteBuffer.allocate(Math.max(bytes, b == null ? 0 : b.capacity() + b.capacity() / 2));
        }
        return b.clear();
    }

    void give(ByteBuffer b) {
        if (idle.size() < KEEP) {
            idle.offer(b);
        }
    }
}
