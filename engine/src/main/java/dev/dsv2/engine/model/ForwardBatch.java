package dev.dsv2.engine.model;

import dev.dsv2.engine.cache.CacheSequence;

import java.util.ArrayList;
import java.util.List;

/**
 * The rows of one forward pass. Each row is one token of one sequence at one position; the rows of a sequence are
 * consecutive with consecutive positions (a prefill chunk or a single decode token), forming a {@link Segment}.
 * A batch may mix prefill chunks and decode tokens of many sequences (continuous batching).
 *
 * @param tokens      [rows] token ids
 * @param positions   [rows] absolute positions
 * @param sequences   [rows] the cache sequence each row belongs to
 * @param logitRows   indices of the rows whose next-token logits are wanted, in output order
 */
public record ForwardBatch(int[] tokens, int[] positions, CacheSequence[] sequences, int[] logitRows,
                           List<Segment> segments) {

    /** Rows {@code [start, start + length)} of one sequence at positions {@code [startPos, startPos + length)}. */
    public record Segment(CacheSequence sequence, int start, int length, int startPos) {
        public int endPos() {
            return startPos + length;
        }
    }

    public int rows() {
        return tokens.length;
    }

    public static ForwardBatch of(int[] tokens, int[] positions, CacheSequence[] sequences, int[] logitRows) {
        if (tokens.length != positions.length || tokens.length != sequences.length) {
            throw new IllegalArgumentException("tokens, positions and sequences must have one entry per row");
        }
        List<Segment> segments = new ArrayList<>();
        int start = 0;
        for (int r = 1; r <= tokens.length; r++) {
            boolean split = r == tokens.length || sequences[r] != sequences[start]
                    || positions[r] != positions[r - 1] + 1;
            if (split) {
                segments.add(new Segment(sequences[start], start, r - start, positions[start]));
                start = r;
            }
        }
        return new ForwardBatch(tokens, positions, sequences, logitRows, List.copyOf(segments));
    }

    /** A prefill (or decode, when {@code tokens.length == 1}) of one sequence from {@code startPos}; logits of its last row. */
    public static ForwardBatch single(CacheSequence seq, int[] tokens, int startPos) {
        int[] pos = new int[tokens.length];
        CacheSequence[] seqs = new CacheSequence[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            pos[i] = startPos + i;
            seqs[i] = seq;
        }
        return of(tokens, pos, seqs, new int[]{tokens.length - 1});
    }
}
