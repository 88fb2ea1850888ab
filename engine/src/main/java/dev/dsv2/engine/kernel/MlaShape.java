package dev.dsv2.engine.kernel;

/**
 * The dimensions of multi-head latent attention that the MLA operations of {@link Backend} take (V2-Lite numbers):
 * {@code heads} H (16), {@code nope} dn (128), {@code rope} dr (64), {@code value} dv (128), {@code latent} Ckv (512);
 * the query head is {@code dq = dn + dr} and a cache entry {@code [c_kv Ckv | k_pe dr]}; {@code scale} is the
 * softmax scale (mscale² included).
 */
public record MlaShape(int heads, int nope, int rope, int value, int latent, float scale) {
    /** Floats of one query head: {@code dn + dr}. */
    public int qHead() {
        return nope + rope;
    }

    /** Floats of one cache entry: {@code Ckv + dr}. */
    public int entry() {
        return latent + rope;
    }
}
