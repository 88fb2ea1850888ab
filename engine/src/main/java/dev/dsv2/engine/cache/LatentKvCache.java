package dev.dsv2.engine.cache;

import dev.dsv2.engine.config.ModelConfig;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The compressed MLA KV cache, paged. Per token and layer it holds only the {@code kv_lora_rank}-dim normalised
 * latent {@code c_kv} followed by the {@code qk_rope_head_dim}-dim rotated {@code k_pe} (576 floats for V2-Lite);
 * keys and values are never stored. Storage is split into fixed-size blocks of {@link #blockSize()} tokens; each
 * {@link CacheSequence} maps its logical blocks to physical ones through a block table, so sequences grow without
 * copying and free their blocks at once when they end.
 *
 * <pre>
 *   layer storage: float[numBlocks * blockSize * dim]   (dim = kv_lora_rank + qk_rope_head_dim)
 *   token (seq, pos) of layer l: layer(l)[offset(seq, pos) .. + dim)
 *                                 = [ c_kv (kv_lora_rank) | k_pe (qk_rope_head_dim) ]
 * </pre>
 */
public final class LatentKvCache {
    public static final int DEFAULT_BLOCK_SIZE = 64;

    private final int layers;
    private final int dim;
    private final int kvLoraRank;
    private final int blockSize;
    private final int numBlocks;
    private final float[][] storage;
    private final int[] freeStack;
    private int freeTop;
    private final AtomicLong ids = new AtomicLong();

    public LatentKvCache(ModelConfig config, int numBlocks, int blockSize) {
        if (numBlocks < 1 || blockSize < 1) {
            throw new IllegalArgumentException("cache needs >= 1 block of >= 1 token, got " + numBlocks + " x " + blockSize);
        }
        this.layers = config.numHiddenLayers();
        this.dim = config.latentCacheDim();
        this.kvLoraRank = config.kvLoraRank();
        this.blockSize = blockSize;
        this.numBlocks = numBlocks;
        long perLayer = (long) numBlocks * blockSize * dim;
        if (perLayer > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("cache of " + numBlocks + " blocks x " + blockSize + " tokens x " + dim
                    + " floats exceeds one layer array; use fewer blocks");
        }
        this.storage = new float[layers][(int) perLayer];
        this.freeStack = new int[numBlocks];
        for (int i = 0; i < numBlocks; i++) {
            freeStack[i] = numBlocks - 1 - i;
        }
        this.freeTop = numBlocks;
    }

    /** A cache able to hold {@code tokens} tokens in total, in blocks of {@link #DEFAULT_BLOCK_SIZE}. */
    public static LatentKvCache forTokens(ModelConfig config, int tokens) {
        int blocks = Math.max(1, (tokens + DEFAULT_BLOCK_SIZE - 1) / DEFAULT_BLOCK_SIZE);
        return new LatentKvCache(config, blocks, DEFAULT_BLOCK_SIZE);
    }

    /** Bytes one token occupies across all layers. */
    public long bytesPerToken() {
        return (long) layers * dim * Float.BYTES;
    }

    public int dim() {
        return dim;
    }

    public int kvLoraRank() {
        return kvLoraRank;
    }

    public int blockSize() {
        return blockSize;
    }

    public int totalBlocks() {
        return numBlocks;
    }

    public synchronized int freeBlocks() {
        return freeTop;
    }

    public synchronized int usedBlocks() {
        return numBlocks - freeTop;
    }

    public long capacityTokens() {
        return (long) numBlocks * blockSize;
    }

    public int blocksFor(int tokens) {
        return (tokens + blockSize - 1) / blockSize;
    }

    public CacheSequence newSequence() {
        return new CacheSequence(ids.incrementAndGet());
    }

    /**
     * Makes room for positions {@code [0, tokens)} of {@code seq}: all the blocks or none. Returns false when the
     * free blocks do not suffice (the caller waits or rejects).
     */
    public synchronized boolean reserve(CacheSequence seq, int tokens) {
        if (seq.freed) {
            throw new IllegalStateException(seq + " was freed");
        }
        int need = blocksFor(tokens) - seq.blocks;
        if (need <= 0) {
            return true;
        }
        if (need > freeTop) {
            return false;
        }
        for (int i = 0; i < need; i++) {
            seq.addBlock(freeStack[--freeTop]);
        }
        return true;
    }

    /** Returns every block of {@code seq} to the free pool; idempotent. */
    public synchronized void free(CacheSequence seq) {
        if (seq.freed) {
            return;
        }
        for (int i = 0; i < seq.blocks; i++) {
            freeStack[freeTop++] = seq.blockTable[i];
        }
        seq.blocks = 0;
        seq.length = 0;
        seq.freed = true;
    }

    /** Reserved capacity of {@code seq} in tokens. */
    public int capacity(CacheSequence seq) {
        return seq.blocks * blockSize;
    }

    /** Offset in {@link #layer(int)} where token {@code pos} of {@code seq} starts. */
    public int offset(CacheSequence seq, int pos) {
        int logical = pos / blockSize;
        if (pos < 0 || logical >= seq.blocks) {
            throw new IndexOutOfBoundsException("position " + pos + " outside the " + capacity(seq)
                    + " reserved tokens of " + seq);
        }
        return (seq.physicalBlock(logical) * blockSize + pos % blockSize) * dim;
    }

    /** The storage of one layer (see the class doc for the layout). */
    public float[] layer(int layer) {
        return storage[layer];
    }
}
