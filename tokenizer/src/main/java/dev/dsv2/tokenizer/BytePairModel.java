package dev.dsv2.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The byte-level BPE model of a {@code tokenizer.json} ({@code "model": {"type": "BPE", ...}}), with the merge
 * order of Hugging Face {@code tokenizers} ({@code models/bpe/word.rs, merge_all}).
 *
 * <p>A pre-token's UTF-8 bytes start as one symbol per byte (the vocabulary id of that byte's alphabet
 * character, see {@link ByteLevel}). Then, repeatedly, the adjacent pair with the lowest merge rank is
 * merged, the leftmost one among equal ranks; a queued pair is skipped when its left symbol was already
 * consumed or when the pair now at that position produces a different token. With {@code ignore_merges},
 * a pre-token that is itself in the vocabulary is emitted whole.
 *
 * <p>Shapes: {@code vocabSize} model ids (the added tokens live in {@link AddedVocabulary}); merges are packed
 * as {@code pairKey(leftId, rightId) -> rank}, {@code newIdOfRank[rank]} the merged token id.
 *
 * <p>Thread-safe: immutable apart from a concurrent word cache (at most {@value #CACHE_CAPACITY} words of at
 * most {@value #MAX_CACHED_WORD_CHARS} characters; when full, new words are simply not cached, as in HF).
 */
final class BytePairModel {
    static final int CACHE_CAPACITY = 100_000;
    static final int MAX_CACHED_WORD_CHARS = 256;

    private final Map<String, Integer> vocab;
    private final String[] idToToken;
    private final LongIntHashMap mergeRanks;
    private final int[] newIdOfRank;
    /** Vocabulary id of each byte's alphabet character, or -1 when the vocabulary lacks it. */
    private final int[] byteIds = new int[256];
    private final int unkId;
    private final boolean fuseUnk;
    private final boolean ignoreMerges;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param vocab        token string to id
     * @param merges       merge rules in rank order, each {@code {left, right}}
     * @param unkToken     unknown token (null: bytes without a vocabulary id are dropped, as in HF)
     */
    BytePairModel(Map<String, Integer> vocab, String[][] merges, String unkToken, boolean fuseUnk,
                  boolean ignoreMerges) throws TokenizerFormatException {
        this.vocab = vocab;
        int maxId = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1);
        this.idToToken = new String[maxId + 1];
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            idToToken[e.getValue()] = e.getKey();
        }
        this.mergeRanks = new LongIntHashMap(merges.length * 2);
        this.newIdOfRank = new int[merges.length];
        for (int rank = 0; rank < merges.length; rank++) {
            String left = merges[rank][0];
            String right = merges[rank][1];
            Integer a = vocab.get(left);
            Integer b = vocab.get(right);
            Integer merged = vocab.get(left + right);
            if (a == null || b == null || merged == null) {
                String missing = a == null ? left : b == null ? right : left + right;
                throw new TokenizerFormatException("model.merges[" + rank + "] = \"" + left + " " + right
                        + "\": token \"" + missing + "\" is not in model.vocab");
            }
            mergeRanks.put(pairKey(a, b), rank); // a later duplicate pair wins, as in HF's HashMap build
            newIdOfRank[rank] = merged;
        }
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.valueOf(ByteLevel.charOf(b)));
            byteIds[b] = id == null ? -1 : id;
        }
        if (unkToken != null && !vocab.containsKey(unkToken)) {
            throw new TokenizerFormatException("model.unk_token \"" + unkToken + "\" is not in model.vocab");
        }
        this.unkId = unkToken == null ? -1 : vocab.get(unkToken);
        this.fuseUnk = fuseUnk;
        this.ignoreMerges = ignoreMerges;
    }

    /** Highest model id + 1. */
    int size() {
        return idToToken.length;
    }

    /** The vocabulary string of a model id, or null. */
    String token(int id) {
        return id >= 0 && id < idToToken.length ? idToToken[id] : null;
    }

    Integer id(String token) {
        return vocab.get(token);
    }

    /** Appends the ids of one pre-token (a text piece without unpaired surrogates). */
    void encodeWord(String word, IntList out) {
        boolean cacheable = word.length() <= MAX_CACHED_WORD_CHARS;
        if (cacheable) {
            int[] cached = cache.get(word);
            if (cached != null) {
                out.addAll(cached);
                return;
            }
        }
        int[] ids = merge(word.getBytes(StandardCharsets.UTF_8));
        if (cacheable && cache.size() < CACHE_CAPACITY) {
            cache.putIfAbsent(word, ids);
        }
        out.addAll(ids);
    }

    private int[] merge(byte[] bytes) {
        int n = bytes.length;
        if (ignoreMerges) {
            Integer whole = vocab.get(ByteLevel.spell(bytes, 0, n));
            if (whole != null) {
                return new int[] {whole};
            }
        }
        // Symbols as a doubly linked list over arrays; removed symbols get len 0.
        int[] ids = new int[n];
        int[] len = new int[n];
        int count = 0;
        boolean pendingUnk = false;
        for (int i = 0; i < n; i++) {
            int id = byteIds[bytes[i] & 0xFF];
            if (id >= 0) {
                ids[count] = id;
                len[count++] = 1;
                pendingUnk = false;
            } else if (unkId >= 0) {
                if (fuseUnk && pendingUnk) {
                    len[count - 1]++;
                } else {
                    ids[count] = unkId;
                    len[count++] = 1;
                }
                pendingUnk = true;
            }
        }
        if (count < 2) {
            return Arrays.copyOf(ids, count);
        }
        int[] prev = new int[count];
        int[] next = new int[count];
        for (int i = 0; i < count; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }
        LongMinHeap queue = new LongMinHeap(count);
        for (int i = 0; i + 1 < count; i++) {
            int rank = mergeRanks.get(pairKey(ids[i], ids[i + 1]));
            if (rank >= 0) {
                queue.push(entry(rank, i));
            }
        }
        while (!queue.isEmpty()) {
            long top = queue.pop();
            int rank = (int) (top >>> 32);
            int pos = (int) top;
            if (len[pos] == 0 || next[pos] == -1) {
                continue;
            }
            int right = next[pos];
            int currentRank = mergeRanks.get(pairKey(ids[pos], ids[right]));
            if (currentRank < 0 || newIdOfRank[currentRank] != newIdOfRank[rank]) {
                continue; // stale entry: the pair at pos changed since it was queued
            }
            ids[pos] = newIdOfRank[rank];
            len[pos] += len[right];
            len[right] = 0;
            next[pos] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = pos;
            }
            if (prev[pos] >= 0) {
                int r = mergeRanks.get(pairKey(ids[prev[pos]], ids[pos]));
                if (r >= 0) {
                    queue.push(entry(r, prev[pos]));
                }
            }
            if (next[pos] >= 0) {
                int r = mergeRanks.get(pairKey(ids[pos], ids[next[pos]]));
                if (r >= 0) {
                    queue.push(entry(r, pos));
                }
            }
        }
        int[] result = new int[count];
        int k = 0;
        for (int i = 0; i != -1; i = next[i]) {
            result[k++] = ids[i];
        }
        return Arrays.copyOf(result, k);
    }

    private static long pairKey(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    /** Queue order: lowest rank first, then leftmost position. */
    private static long entry(int rank, int pos) {
        return ((long) rank << 32) | pos;
    }

    /** Open-addressing map from long keys to non-negative ints; {@link #get} returns -1 when absent. */
    private static final class LongIntHashMap {
        private final long[] keys;
        private final int[] values;
        private final int mask;

        LongIntHashMap(int expected) {
            int capacity = Integer.highestOneBit(Math.max(4, expected) * 2);
            keys = new long[capacity];
            values = new int[capacity];
            Arrays.fill(values, -1);
            mask = capacity - 1;
        }

        void put(long key, int value) {
            int i = slot(key);
            while (values[i] >= 0 && keys[i] != key) {
                i = (i + 1) & mask;
            }
            keys[i] = key;
            values[i] = value;
        }

        int get(long key) {
            int i = slot(key);
            while (values[i] >= 0) {
                if (keys[i] == key) {
                    return values[i];
                }
                i = (i + 1) & mask;
            }
            return -1;
        }

        private int slot(long key) {
            long h = key * 0x9E3779B97F4A7C15L;
            return (int) (h >>> 40) & mask;
        }
    }

    /** A binary min-heap of longs. */
    private static final class LongMinHeap {
        private long[] heap;
        private int size;

        LongMinHeap(int capacity) {
            heap = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long value) {
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, size * 2);
            }
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (heap[parent] <= value) {
                    break;
                }
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = value;
        }

        long pop() {
            long top = heap[0];
            long last = heap[--size];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) {
                    break;
                }
                if (child + 1 < size && heap[child + 1] < heap[child]) {
                    child++;
                }
                if (last <= heap[child]) {
                    break;
                }
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = last;
            return top;
        }
    }
}
