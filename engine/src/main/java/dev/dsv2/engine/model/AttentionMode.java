package dev.dsv2.engine.model;

/**
 * Which MLA form attention uses. {@link #AUTO} is what serving does: multi-token segments (prefill chunks) expand
 * the latent into per-head keys/values and run ordinary attention; single-token segments (decode) absorb
 * {@code W_UK} into the query and {@code W_UV} after attention, attending directly over the latent cache.
 * The forced modes exist so tests can check one form against the other.
 */
public enum AttentionMode {
    AUTO, EXPANDED, ABSORBED;

    boolean absorbed(int segmentLength) {
        return switch (this) {
            case ABSORBED -> true;
            case EXPANDED -> false;
            case AUTO -> segmentLength == 1;
        };
    }
}
