package dev.dsv2.engine.sample;

import java.util.Arrays;

/**
 * The best tokens of one step's distribution with their natural-log probabilities, best first
 * (see {@link Logprobs#top}). {@code ids[r]} and {@code logprobs[r]} describe rank {@code r}.
 *
 * <p>Arrays are copied in and out, so an instance is immutable; {@link #id(int)} and {@link #logprob(int)} read a
 * rank without a copy. Equality compares contents.
 */
public record TopLogprobs(int[] ids, float[] logprobs) {
    public TopLogprobs {
        if (ids == null || logprobs == null || ids.length != logprobs.length) {
            throw new IllegalArgumentException("TopLogprobs needs two arrays of equal length, got ids "
                    + (ids == null ? "null" : ids.length) + " and logprobs "
                    + (logprobs == null ? "null" : logprobs.length));
        }
        ids = ids.clone();
        logprobs = logprobs.clone();
    }

    @Override
    public int[] ids() {
        return ids.clone();
    }

    @Override
    public float[] logprobs() {
        return logprobs.clone();
    }

    public int size() {
        return ids.length;
    }

    public int id(int rank) {
        return ids[rank];
    }

    public float logprob(int rank) {
        return logprobs[rank];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TopLogprobs other && Arrays.equals(ids, other.ids)
                && Arrays.equals(logprobs, other.logprobs);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(ids) + Arrays.hashCode(logprobs);
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("TopLogprobs[");
        for (int r = 0; r < ids.length; r++) {
            s.append(r == 0 ? "" : ", ").append(ids[r]).append('=').append(logprobs[r]);
        }
        return s.append(']').toString();
    }
}
