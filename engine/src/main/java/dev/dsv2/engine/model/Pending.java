package dev.dsv2.engine.model;

/**
 * Work that has been started and is not yet complete: a MoE layer's routed experts on remote shards, a MoE block
 * waiting for them, or a decoder layer whose MLP is in flight. Starting and completing are split so that a caller can
 * run other work in between (the shared experts, the attention of another micro-batch); {@link #await} blocks until
 * the work is done and then completes it (combines the results, adds the residual).
 */
@FunctionalInterface
public interface Pending {
    /** Waits for the work and completes it; rethrows its failure (e.g. a {@code ServingException} naming a shard). */
    void await();

    /** Work that was already complete when it was started. */
    Pending DONE = () -> { };
}
