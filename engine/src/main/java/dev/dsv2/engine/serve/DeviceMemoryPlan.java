package dev.dsv2.engine.serve;

import java.util.OptionalInt;

/**
 * How many latent cache tokens fit in device memory (vLLM's {@code gpu_memory_utilization} rule), measured after the
 * weights are uploaded: the process may use {@code fraction · total} bytes of the device; what is in use already
 * (weights, context, scratch, other processes) comes off that, and a {@link #RESERVE_SHARE} of the rest is left for
 * the workspace's activations and the operations' scratch, which grow with the batch. The remainder holds whole
 * blocks of the cache.
 *
 * @param freeBytes     device bytes free now ({@code cuMemGetInfo}, after the weights are uploaded)
 * @param totalBytes    device bytes in all
 * @param fraction      {@code dsv2.gpu-memory-fraction}, in (0, 1]
 * @param bytesPerToken cache bytes one token takes over all layers
 * @param blockSize     tokens per cache block
 */
public record DeviceMemoryPlan(long freeBytes, long totalBytes, double fraction, long bytesPerToken, int blockSize) {
    /** Share of the cache budget kept back for activations and scratch. */
    public static final double RESERVE_SHARE = 0.05;

    public DeviceMemoryPlan {
        validateFraction(fraction);
        if (freeBytes < 0 || totalBytes <= 0 || freeBytes > totalBytes || bytesPerToken <= 0 || blockSize <= 0) {
            throw new IllegalArgumentException("device memory plan: free " + freeBytes + " of " + totalBytes
                    + " bytes, " + bytesPerToken + " bytes per token, blocks of " + blockSize);
        }
    }

    /** @throws IllegalArgumentException unless {@code 0 < fraction <= 1} */
    public static double validateFraction(double fraction) {
        if (!(fraction > 0 && fraction <= 1)) {
            throw new IllegalArgumentException(ServingSettings.describeKey(ServingSettings.GPU_MEMORY_FRACTION) + " "
                    + fraction + " must be in (0, 1]: the share of the device's memory this process may use");
        }
        return fraction;
    }

    /** Bytes the cache may take: {@code fraction · total - used}, less the reserve; 0 when nothing is left. */
    public long cacheBudgetBytes() {
        long used = totalBytes - freeBytes;
        long allowed = (long) (fraction * totalBytes) - used;
        return Math.max(0, (long) (allowed * (1 - RESERVE_SHARE)));
    }

    /** Tokens of whole blocks that fit in {@link #cacheBudgetBytes()}. */
    public int fittingTokens() {
        long blocks = cacheBudgetBytes() / (bytesPerToken * blockSize);
        return (int) Math.min(Integer.MAX_VALUE - blockSize, blocks * blockSize);
    }

    /**
     * The cache size: {@code requested} when given and it fits, else every fitting token.
     *
     * @throws IllegalArgumentException when the requested tokens do not fit (naming both numbers), or when not one
     *                                  block fits
     */
    public int cacheTokens(OptionalInt requested) {
        int fits = fittingTokens();
        if (requested.isPresent()) {
            int want = requested.getAsInt();
            if ((long) want * bytesPerToken > cacheBudgetBytes()) {
                throw new IllegalArgumentException(String.format("%s %,d does not fit in device memory: %,d tokens "
                        + "fit (%.2f GiB for the cache at %s %.2f); lower it or raise the fraction",
                        ServingSettings.describeKey(ServingSettings.KV_CACHE_TOKENS), want, fits,
                        cacheBudgetBytes() / (double) (1L << 30),
                        ServingSettings.GPU_MEMORY_FRACTION, fraction));
            }
            return want;
        }
        if (fits < blockSize) {
            throw new IllegalArgumentException(String.format("no latent cache block fits in device memory: %.2f GiB "
                    + "free of %.2f GiB after the weights, %s %.2f; raise the fraction or use a device with more "
                    + "memory", freeBytes / (double) (1L << 30), totalBytes / (double) (1L << 30),
                    ServingSettings.GPU_MEMORY_FRACTION, fraction));
        }
        return fits;
    }
}
