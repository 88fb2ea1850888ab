package dev.dsv2.engine.cache;

import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;

/**
 * The prefix cache's index: full blocks keyed by (content id of the parent block, the block's tokens). Each
 * registered block gets a fresh content id that is never reused, so when a block is evicted and its physical slot
 * reused, the keys of its former children can no longer be reached from the root. Blocks whose reference count
 * drops to zero stay indexed in an LRU set until they are evicted for space. Not thread-safe: the cache locks.
 */
final class PrefixIndex {
    static final long ROOT = 0;

    private record Key(long parent, int[] tokens) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.parent == parent && Arrays.equals(k.tokens, tokens);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(parent) * 31 + Arrays.hashCode(tokens);
        }
    }

    private final Map<Key, Integer> blocks = new HashMap<>();
    private final Key[] keyOf;
    private final long[] contentId;
    private final LinkedHashSet<Integer> evictable = new LinkedHashSet<>();
    private long nextContentId = 1;

    PrefixIndex(int numBlocks) {
        keyOf = new Key[numBlocks];
        contentId = new long[numBlocks];
    }

    /** The physical block holding {@code tokens} after the block with content {@code parent}, or -1. */
    int find(long parent, int[] tokens) {
        Integer b = blocks.get(new Key(parent, tokens));
        return b == null ? -1 : b;
    }

    long contentId(int block) {
        return contentId[block];
    }

    /** Indexes {@code block} (just computed) and returns its content id; an identical block indexed first wins. */
    long register(long parent, int[] tokens, int block) {
        if (keyOf[block] != null) {
            return contentId[block];
        }
        Key key = new Key(parent, tokens.clone());
        Integer existing = blocks.get(key);
        if (existing != null) {
            return contentId[existing];
        }
        blocks.put(key, block);
        keyOf[block] = key;
        contentId[block] = nextContentId++;
        return contentId[block];
    }

    /** A block whose last user left: if indexed it becomes evictable (returns true), else the caller frees it. */
    boolean release(int block) {
        if (keyOf[block] == null) {
            return false;
        }
        evictable.add(block);
        return true;
    }

    /** A cached block taken by a sequence again. */
    void pin(int block) {
        evictable.remove(block);
    }

    int evictable() {
        return evictable.size();
    }

    /** Removes the least recently released cached block from the index and returns it for reuse. */
    int evict() {
        var it = evictable.iterator();
        int b = it.next();
        it.remove();
        blocks.remove(keyOf[b]);
        keyOf[b] = null;
        contentId[b] = 0;
        return b;
    }
}
