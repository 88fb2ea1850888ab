package dev.dsv2.gateway.router;

/**
 * A point-in-time view of a router.
 *
 * @param ready        weights loaded and (distributed) every expert shard reachable
 * @param running      sequences being decoded or prefilled
 * @param waiting      requests queued for admission
 * @param kvBlocksTotal blocks of the latent KV cache ({@code 0} when unknown)
 * @param kvBlockSize  tokens per block
 * @param detail       why the router is not ready (empty when it is)
 */
public record RouterStatus(boolean ready, int running, int waiting, int kvBlocksTotal, int kvBlocksUsed,
                           int kvBlockSize, int contextLimit, int vocabSize, String detail) {

    public static RouterStatus notReady(String detail) {
        return new RouterStatus(false, 0, 0, 0, 0, 0, 0, 0, detail);
    }

    /** Tokens the whole KV cache holds; 0 when unknown. */
    public long kvCapacityTokens() {
        return (long) kvBlocksTotal * kvBlockSize;
    }

    public double kvCacheUsage() {
        return kvBlocksTotal == 0 ? 0 : (double) kvBlocksUsed / kvBlocksTotal;
    }
}
