package dev.dsv2.engine.cache;

import java.util.Arrays;

/**
 * One sequence's view of the {@link LatentKvCache}: its block table (logical block i -> physical block) and how
 * many tokens are cached. Owned by one request; the cache allocates and frees its blocks.
 */
public final class CacheSequence {
    private final long id;
    int[] blockTable = new int[4];
    int blocks;
    int length;
    boolean freed;
    /** Leading full blocks registered in (or matched from) the prefix index, and the content id of the last one. */
    int hashedBlocks;
    long lastContentId;

    CacheSequence(long id) {
        this.id = id;
    }

    public long id() {
        return id;
    }

    /** Tokens whose latents are in the cache (positions {@code [0, length)}). */
    public int length() {
        return length;
    }

    public int blockCount() {
        return blocks;
    }

    public boolean isFreed() {
        return freed;
    }

    /** Records that positions {@code [0, newLength)} are now cached (after a forward pass wrote them). */
    public void advanceTo(int newLength) {
        if (newLength < length) {
            throw new IllegalArgumentException("sequence " + id + ": cannot shrink from " + length + " to " + newLength);
        }
        length = newLength;
    }

    int physicalBlock(int logical) {
        return blockTable[logical];
    }

    void addBlock(int physical) {
        if (blocks == blockTable.length) {
            blockTable = Arrays.copyOf(blockTable, blocks * 2);
        }
        blockTable[blocks++] = physical;
    }

    @Override
    public String toString() {
        return "CacheSequence[" + id + ", length " + length + ", blocks " + blocks + "]";
    }
}
