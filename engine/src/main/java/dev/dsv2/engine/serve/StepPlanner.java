package dev.dsv2.engine.serve;

import dev.dsv2.engine.cache.CacheSequence;
import dev.dsv2.engine.model.ForwardBatch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What one scheduler step computes, as pure functions of the running sequences' lengths, the token budget and the
 * cache's answers: no state, no threads, no cache of its own (the cache decisions come in through {@link Room}).
 *
 * <ol>
 *   <li>{@link #plan}: decode rows first (one per sequence whose prompt is fully cached, oldest first), then prefill
 *       chunks of the others within the remaining budget (long prompts are split across steps, so decoding streams
 *       never stall behind a long prefill);</li>
 *   <li>{@link #splitPoint}: where a step is cut into two micro-batches of about equal rows;</li>
 *   <li>{@link #batch}: the forward pass's rows and which sequences get logits.</li>
 * </ol>
 */
final class StepPlanner {
    private StepPlanner() {
    }

    /** What the planner reads of a running sequence. */
    interface Sequence {
        /** Tokens in the cache. */
        int cached();

        /** Prompt + generated tokens. */
        int total();

        int tokenAt(int position);

        CacheSequence cacheSequence();
    }

    /** The cache's answers to the planner's requests for room; the scheduler's admission control gives them. */
    interface Room<S> {
        /**
         * Room for the decode token of {@code s}, preempting younger sequences when the cache is full; false when
         * {@code s} itself had to be preempted.
         */
        boolean forDecode(S s);

        /** Room for positions {@code [0, tokens)} of {@code s}, without preempting; false when the cache is short. */
        boolean forPrefill(S s, int tokens);

        /** Whether {@code s} still runs (a decode reservation may have preempted it). */
        boolean running(S s);
    }

    /** One step: the scheduled sequences in row order, the span of each, and how many are decode rows (first). */
    record Step<S>(List<S> seqs, List<Span> spans, int decodeRows) {
        int rows() {
            return StepPlanner.rows(spans);
        }

        boolean isEmpty() {
            return seqs.isEmpty();
        }
    }

    /** One forward pass's rows, and the sequences whose logits it yields, in logit-row order. */
    record Batch<S>(ForwardBatch batch, List<S> logitSeqs) {
    }

    /**
     * Plans a step over {@code running} (oldest first) within {@code budget} rows: one decode row per sequence with
     * exactly one uncached token, then prefill chunks of {@code min(pending, budget left)} tokens. A sequence whose
     * room is refused is left out of this step (its budget stays for the others).
     */
    static <S extends Sequence> Step<S> plan(List<S> running, int budget, Room<S> room) {
        List<S> snapshot = List.copyOf(running);
        List<S> seqs = new ArrayList<>();
        List<Span> spans = new ArrayList<>();
        for (S s : snapshot) {
            if (budget <= 0) {
                break;
            }
            if (!room.running(s) || s.total() - s.cached() != 1) {
                continue;
            }
            int cached = s.cached();
            if (room.forDecode(s)) {
                seqs.add(s);
                spans.add(new Span(cached, 1));
                budget--;
            }
        }
        int decodeRows = seqs.size();
        for (S s : snapshot) {
            if (budget <= 0) {
                break;
            }
            // A running sequence with one pending token got its decode row above: the decode pass stops only when
            // the budget is spent (and then so is this one) or when the sequence was preempted (no longer running).
            if (!room.running(s) || s.total() - s.cached() <= 1) {
                continue;
            }
            int cached = s.cached();
            int n = Math.min(s.total() - cached, budget);
            if (room.forPrefill(s, cached + n)) {
                seqs.add(s);
                spans.add(new Span(cached, n));
                budget -= n;
            }
        }
        return new Step<>(seqs, spans, decodeRows);
    }

    /**
     * Where to cut a step into two micro-batches: the most leading sequences whose rows stay within half the step's
     * rows, but at least one and leaving at least one. Needs two or more spans.
     */
    static int splitPoint(List<Span> spans) {
        if (spans.size() < 2) {
            throw new IllegalArgumentException("splitting needs >= 2 sequences, got " + spans.size());
        }
        int rows = rows(spans);
        int half = 0;
        int acc = 0;
        while (half < spans.size() - 1 && acc + spans.get(half).length() <= rows / 2) {
            acc += spans.get(half).length();
            half++;
        }
        return Math.max(1, half);
    }

    /**
     * The forward batch of {@code seqs} at {@code spans}: one row per position, and a logits row for each sequence
     * whose span reaches its last token (a prefill chunk that stops earlier yields none).
     */
    static <S extends Sequence> Batch<S> batch(List<S> seqs, List<Span> spans) {
        int rows = rows(spans);
        int[] tokens = new int[rows];
        int[] positions = new int[rows];
        CacheSequence[] cacheSeqs = new CacheSequence[rows];
        int[] logitRows = new int[seqs.size()];
        List<S> logitSeqs = new ArrayList<>();
        int r = 0;
        for (int i = 0; i < seqs.size(); i++) {
            S s = seqs.get(i);
            Span span = spans.get(i);
            for (int pos = span.start(); pos < span.end(); pos++) {
                tokens[r] = s.tokenAt(pos);
                positions[r] = pos;
                cacheSeqs[r] = s.cacheSequence();
                r++;
            }
            if (span.end() == s.total()) {
                logitRows[logitSeqs.size()] = r - 1;
                logitSeqs.add(s);
            }
        }
        return new Batch<>(ForwardBatch.of(tokens, positions, cacheSeqs, Arrays.copyOf(logitRows, logitSeqs.size())),
                logitSeqs);
    }

    static int rows(List<Span> spans) {
        int rows = 0;
        for (Span sp : spans) {
            rows += sp.length();
        }
        return rows;
    }
}
