package dev.dsv2.engine.serve;

/**
 * The positions of one sequence that a scheduler step computes: {@code [start, start + length)}. A decode row is a
 * span of length 1 at the sequence's cached length; a prefill chunk is a longer span from the cached length.
 */
public record Span(int start, int length) {
    public Span {
        if (start < 0 || length < 1) {
            throw new IllegalArgumentException("span [" + start + ", +" + length + ") needs start >= 0, length >= 1");
        }
    }

    /** One past the last position. */
    public int end() {
        return start + length;
    }
}
