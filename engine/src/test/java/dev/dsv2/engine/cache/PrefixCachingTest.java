package dev.dsv2.engine.cache;

import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.config.ModelConfig;
import org.junit.jupiter.api.Test;

import java.util.function.IntUnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Block-level prefix caching in the paged latent cache: sharing, reference counts, LRU eviction, exact matching. */
class PrefixCachingTest {
    private static final ModelConfig TINY = ModelPresets.preset("tiny");
    private static final int BS = 4;

    private static IntUnaryOperator tokens(int... t) {
        return pos -> t[pos];
    }

    /** A sequence that computed {@code n} tokens: reserved, "written", advanced, registered. */
    private static CacheSequence computed(LatentKvCache c, IntUnaryOperator t, int n) {
        CacheSequence s = c.newSequence();
        int reused = c.matchPrefix(s, t, n - 1);
        assertTrue(c.reserve(s, n));
        s.advanceTo(Math.max(reused, n));
        c.registerFullBlocks(s, t);
        return s;
    }

    @Test
    void aSecondRequestReusesTheFullBlocksOfACommonPrefix() {
        LatentKvCache c = new LatentKvCache(TINY, 16, BS);
        int[] a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        CacheSequence first = computed(c, tokens(a), a.length);
        int[] b = {1, 2, 3, 4, 5, 6, 7, 8, 42, 43, 44};
        CacheSequence second = c.newSequence();
        assertEquals(8, c.matchPrefix(second, tokens(b), b.length - 1), "two full blocks shared");
        assertEquals(8, second.length());
        assertEquals(c.offset(first, 0), c.offset(second, 0), "the same physical block");
        assertEquals(c.offset(first, 7), c.offset(second, 7));
        assertTrue(c.reserve(second, b.length));
        assertNotEquals(c.offset(first, 8), c.offset(second, 8), "the partial block is private");
        assertEquals(8, c.prefixHitTokens());
    }

    @Test
    void atLeastOneTokenIsLeftToComputeAndPartialBlocksAreNeverShared() {
        LatentKvCache c = new LatentKvCache(TINY, 16, BS);
        int[] a = {1, 2, 3, 4, 5, 6, 7, 8};
        computed(c, tokens(a), a.length);
        CacheSequence same = c.newSequence();
        assertEquals(4, c.matchPrefix(same, tokens(a), a.length - 1),
                "the last block would hold the token whose logits are needed: not shared");
    }

    @Test
    void differentTokensUnderTheSameParentDoNotMatch() {
        LatentKvCache c = new LatentKvCache(TINY, 16, BS);
        computed(c, tokens(1, 2, 3, 4, 5, 6, 7, 8, 9), 9);
        CacheSequence other = c.newSequence();
        assertEquals(4, c.matchPrefix(other, tokens(1, 2, 3, 4, 5, 6, 7, 9, 9), 8));
        CacheSequence none = c.newSequence();
        assertEquals(0, c.matchPrefix(none, tokens(2, 2, 3, 4, 5, 6, 7, 8, 9), 8));
    }

    @Test
    void freedPrefixBlocksStayCachedUntilSpaceIsNeededThenLeastRecentlyUsedGoFirst() {
        LatentKvCache c = new LatentKvCache(TINY, 4, BS);
        CacheSequence a = computed(c, tokens(1, 1, 1, 1, 9), 5);   // block A1 full + 1 partial
        c.free(a);
        assertEquals(0, c.usedBlocks(), "cached blocks count as free");
        assertEquals(1, c.cachedFreeBlocks());
        CacheSequence b = computed(c, tokens(2, 2, 2, 2, 9), 5);   // block B1 full + partial
        c.free(b);
        assertEquals(2, c.cachedFreeBlocks());
        // Touch A's prefix again so that B's block is now the least recently used.
        CacheSequence a2 = c.newSequence();
        assertEquals(4, c.matchPrefix(a2, tokens(1, 1, 1, 1, 9), 4));
        c.free(a2);
        // Take 3 blocks: 2 free + 1 evicted (B's, the least recently used).
        CacheSequence big = c.newSequence();
        assertTrue(c.reserve(big, 12));
        c.free(big);
        CacheSequence probeB = c.newSequence();
        assertEquals(0, c.matchPrefix(probeB, tokens(2, 2, 2, 2, 9), 4), "B was evicted");
        CacheSequence probeA = c.newSequence();
        assertEquals(4, c.matchPrefix(probeA, tokens(1, 1, 1, 1, 9), 4), "A survived");
    }

    @Test
    void aBlockInUseIsNeverEvictedAndFullCacheRefusesReservations() {
        LatentKvCache c = new LatentKvCache(TINY, 2, BS);
        CacheSequence a = computed(c, tokens(1, 1, 1, 1, 9), 5);
        CacheSequence shared = c.newSequence();
        assertEquals(4, c.matchPrefix(shared, tokens(1, 1, 1, 1, 7), 4));
        c.free(a);
        assertEquals(0, c.cachedFreeBlocks(), "still used by the second sequence");
        CacheSequence other = c.newSequence();
        assertTrue(c.reserve(other, 4));
        CacheSequence more = c.newSequence();
        assertFalse(c.reserve(more, 4), "every block is in use");
    }

    @Test
    void childrenOfAnEvictedBlockCanNoLongerBeReached() {
        LatentKvCache c = new LatentKvCache(TINY, 3, BS);
        CacheSequence a = computed(c, tokens(1, 1, 1, 1, 2, 2, 2, 2, 9), 9);
        c.free(a); // blocks P (1111) and C (2222) cached; the partial block freed
        // Evict P and C, then re-register a different parent content in their slots.
        CacheSequence big = c.newSequence();
        assertTrue(c.reserve(big, 12));
        c.free(big);
        CacheSequence x = computed(c, tokens(1, 1, 1, 1, 3, 3, 3, 3, 9), 9);
        c.free(x);
        CacheSequence probe = c.newSequence();
        assertEquals(4, c.matchPrefix(probe, tokens(1, 1, 1, 1, 2, 2, 2, 2, 9), 8),
                "the new 1111 block matches; the old 2222 child is gone, not served from a stale slot");
    }
}
