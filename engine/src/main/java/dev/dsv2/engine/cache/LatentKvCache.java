package dev.dsv2.engine.cache;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;
import dev.dsv2.engine.kernel.HostBuffer;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The compressed MLA KV cache, paged. Per token and layer it holds only the {@code kv_lora_rank}-dim normalised
 * latent {@code c_kv} followed by the {@code qk_rope_head_dim}-dim rotated {@code k_pe} (576 floats for V2-Lite);
 * keys and values are never stored. Storage is split into fixed-size blocks of {@link #blockSize()} tokens; each
 * {@link CacheSequence} maps its logical blocks to physical ones through a block table, so sequences grow without
 * copying and free their blocks at once when they end.
 *
 * <p>Prefix caching: every full block a sequence computes is registered under (its parent block's content, its
 * tokens); a later sequence whose prompt starts with the same full blocks shares them (reference-counted) instead
 * of recomputing. Blocks no sequence uses stay cached until the space is needed, then are evicted least recently
 * used first. Matching compares the tokens themselves, so a hash collision can never serve another prompt's cache.
 *
 * <pre>
 *   layer storage: float[numBlocks * blockSize * dim]   (dim = kv_lora_rank + qk_rope_head_dim)
 *   token (seq, pos) of layer l: layer(l)[offset(seq, pos) .. + dim)
 *                                 = [ c_kv (kv_lora_rank) | k_pe (qk_rope_head_dim) ]
 * </pre>
 */
public final class LatentKvCache {
    public static final int DEFAULT_BLOCK_SIZE = 64;
    /** The largest Java array a layer's storage may be (a few words below Integer.MAX_VALUE). */
    private static final long MAX_LAYER_FLOATS = Integer.MAX_VALUE - 16L;

    private final int layers;
    private final int dim;
    private final int kvLoraRank;
    private final int blockSize;
    private final int numBlocks;
    private final Buffer[] storage;
    private final int[] freeStack;
    private int freeTop;
    private final int[] refCount;
    private final PrefixIndex prefixes;
    private boolean prefixCaching = true;
    private long prefixQueried;
    private long prefixHits;
    private final AtomicLong ids = new AtomicLong();

    public LatentKvCache(ModelConfig config, int numBlocks, int blockSize) {
        this(config, numBlocks, blockSize, null);
    }

    /**
     * A cache of {@code numBlocks} blocks of {@code blockSize} tokens whose per-layer storage {@code backend}
     * allocates (device memory on a GPU backend); with a null backend, host arrays any host backend computes on.
     */
    public LatentKvCache(ModelConfig config, int numBlocks, int blockSize, Backend backend) {
        if (numBlocks < 1 || blockSize < 1) {
            throw new IllegalArgumentException("cache needs >= 1 block of >= 1 token, got " + numBlocks + " x " + blockSize);
        }
        this.layers = config.numHiddenLayers();
        this.dim = config.latentCacheDim();
        this.kvLoraRank = config.kvLoraRank();
        this.blockSize = blockSize;
        this.numBlocks = numBlocks;
        long perLayer = (long) numBlocks * blockSize * dim;
        if (perLayer > MAX_LAYER_FLOATS) {
            throw new IllegalArgumentException("cache of " + numBlocks + " blocks x " + blockSize + " tokens x " + dim
                    + " floats exceeds one layer array; use fewer blocks");
        }
        this.storage = new Buffer[layers];
        for (int l = 0; l < layers; l++) {
            storage[l] = backend == null ? HostBuffer.allocate(null, perLayer) : backend.allocate(perLayer);
        }
        this.freeStack = new int[numBlocks];
        for (int i = 0; i < numBlocks; i++) {
            freeStack[i] = numBlocks - 1 - i;
        }
        this.freeTop = numBlocks;
        this.refCount = new int[numBlocks];
        this.prefixes = new PrefixIndex(numBlocks);
    }

    /** A cache able to hold {@code tokens} tokens in total, in blocks of {@link #DEFAULT_BLOCK_SIZE}. */
    public static LatentKvCache forTokens(ModelConfig config, int tokens) {
        int blocks = Math.max(1, (tokens + DEFAULT_BLOCK_SIZE - 1) / DEFAULT_BLOCK_SIZE);
        return new LatentKvCache(config, blocks, DEFAULT_BLOCK_SIZE);
    }

    /** {@link #forTokens(ModelConfig, int)} with storage allocated by {@code backend}. */
    public static LatentKvCache forTokens(ModelConfig config, int tokens, Backend backend) {
        int blocks = Math.max(1, (tokens + DEFAULT_BLOCK_SIZE - 1) / DEFAULT_BLOCK_SIZE);
        return new LatentKvCache(config, blocks, DEFAULT_BLOCK_SIZE, backend);
    }

    /** Releases every layer's storage (device memory on a device backend); the cache is unusable afterwards. */
    public void close() {
        for (Buffer b : storage) {
            b.close();
        }
    }

    /** Bytes one token occupies across all layers. */
    public long bytesPerToken() {
        return (long) layers * dim * Float.BYTES;
    }

    /** Bytes one token of {@code config} occupies across all layers: what a cache per token costs before it exists. */
    public static long bytesPerToken(ModelConfig config) {
        return (long) config.numHiddenLayers() * config.latentCacheDim() * Float.BYTES;
    }

    /** The most tokens a cache of {@code config} can hold: one layer's storage is a single float array. */
    public static long maxTokens(ModelConfig config) {
        return MAX_LAYER_FLOATS / config.latentCacheDim();
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

    /** Blocks a new sequence can take: free ones plus cached prefix blocks no sequence uses. */
    public synchronized int freeBlocks() {
        return freeTop + prefixes.evictable();
    }

    /** Blocks in use by sequences (what {@code vllm:kv_cache_usage_perc} reports). */
    public synchronized int usedBlocks() {
        return numBlocks - freeBlocks();
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
     * free blocks do not suffice (the caller waits or rejects). Cached blocks no sequence uses are evicted, least
     * recently used first, when the free list is empty.
     */
    public synchronized boolean reserve(CacheSequence seq, int tokens) {
        if (seq.freed) {
            throw new IllegalStateException(seq + " was freed");
        }
        int need = blocksFor(tokens) - seq.blocks;
        if (need <= 0) {
            return true;
        }
        if (need > freeTop + prefixes.evictable()) {
            return false;
        }
        for (int i = 0; i < need; i++) {
            int b = freeTop > 0 ? freeStack[--freeTop] : prefixes.evict();
            refCount[b] = 1;
            seq.addBlock(b);
        }
        return true;
    }

    /**
     * Returns {@code seq}'s blocks: blocks that hold a registered full prefix block stay cached (evictable) for later
     * requests with the same prefix, the others go back to the free list. Idempotent.
     */
    public synchronized void free(CacheSequence seq) {
        if (seq.freed) {
            return;
        }
        for (int i = 0; i < seq.blocks; i++) {
            int b = seq.blockTable[i];
            if (--refCount[b] == 0 && !prefixes.release(b)) {
                freeStack[freeTop++] = b;
            }
        }
        seq.blocks = 0;
        seq.length = 0;
        seq.freed = true;
    }

    /**
     * Prefix caching: gives a fresh {@code seq} the cached blocks that already hold the longest run of its full
     * leading blocks ({@code tokens.applyAsInt(pos)} for {@code pos < maxTokens}), shared with the sequences that
     * computed them, and marks those positions cached. Returns the number of tokens reused (a multiple of the block
     * size). Shared blocks are full and lie before the sequence's first uncached position, so they are never written.
     */
    public synchronized int matchPrefix(CacheSequence seq, java.util.function.IntUnaryOperator tokens, int maxTokens) {
        if (seq.blocks != 0 || seq.length != 0 || seq.freed) {
            throw new IllegalStateException(seq + " must be fresh to reuse a cached prefix");
        }
        prefixQueried += maxTokens;
        if (!prefixCaching) {
            return 0;
        }
        long parent = PrefixIndex.ROOT;
        int[] blockTokens = new int[blockSize];
        for (int blk = 0; (blk + 1) * blockSize <= maxTokens; blk++) {
            for (int i = 0; i < blockSize; i++) {
                blockTokens[i] = tokens.applyAsInt(blk * blockSize + i);
            }
            int b = prefixes.find(parent, blockTokens);
            if (b < 0) {
                break;
            }
            if (refCount[b]++ == 0) {
                prefixes.pin(b);
            }
            seq.addBlock(b);
            seq.hashedBlocks = blk + 1;
            seq.lastContentId = prefixes.contentId(b);
            parent = seq.lastContentId;
        }
        seq.length = seq.blocks * blockSize;
        prefixHits += seq.length;
        return seq.length;
    }

    /**
     * Registers {@code seq}'s newly completed full blocks (positions below its cached length) so later requests can
     * reuse them. Call after a forward pass advanced the sequence.
     */
    public synchronized void registerFullBlocks(CacheSequence seq, java.util.function.IntUnaryOperator tokens) {
        if (!prefixCaching || seq.freed) {
            return;
        }
        int full = seq.length / blockSize;
        int[] blockTokens = new int[blockSize];
        while (seq.hashedBlocks < full) {
            int blk = seq.hashedBlocks;
            for (int i = 0; i < blockSize; i++) {
                blockTokens[i] = tokens.applyAsInt(blk * blockSize + i);
            }
            long parent = blk == 0 ? PrefixIndex.ROOT : seq.lastContentId;
            seq.lastContentId = prefixes.register(parent, blockTokens, seq.blockTable[blk]);
            seq.hashedBlocks++;
        }
    }

    /** Turns prefix caching on or off (on by default). */
    public synchronized void setPrefixCaching(boolean on) {
        prefixCaching = on;
    }

    /** Prompt tokens looked up in the prefix cache so far, and how many of them were reused. */
    public synchronized long prefixQueriedTokens() {
        return prefixQueried;
    }

    public synchronized long prefixHitTokens() {
        return prefixHits;
    }

    /** Blocks holding cached prefixes that no running sequence uses (reclaimable at once). */
    public synchronized int cachedFreeBlocks() {
        return prefixes.evictable();
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
    public Buffer layer(int layer) {
        return storage[layer];
    }
}
