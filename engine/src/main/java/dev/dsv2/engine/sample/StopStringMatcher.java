package dev.dsv2.engine.sample;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * OpenAI {@code stop} semantics on streamed text: generation ends at the first stop string, and the returned text
 * ends right before it.
 *
 * <p>Feed each detokenised delta to {@link #append}; it returns the text that is safe to show now. Text that could
 * still turn out to be the start of a stop string (the longest suffix that is a proper prefix of some stop) is held
 * back, as is a trailing high surrogate whose low half has not arrived. When a stop string completes, the result is
 * {@linkplain Result#stopped() stopped}: its text ends right before the earliest-starting stop occurrence (stops
 * starting at the same place: the one listed first), and nothing after it is ever emitted. When generation ends for
 * another reason (EOS, length), {@link #flush} returns the held-back text. Either way the stream has then ended.
 *
 * <p>Matching is checked at every append, so when one stop is a suffix of another's prefix (stops {@code "abcd"} and
 * {@code "bc"}, text {@code "abc"}), the one that completes first ends the stream, as with vLLM. With no stop strings
 * every delta passes straight through. One instance per request; not thread-safe.
 */
public final class StopStringMatcher {
    /**
     * @param text        the text safe to emit now (possibly empty)
     * @param matchedStop the stop string that ended the stream, if one did
     */
    public record Result(String text, Optional<String> matchedStop) {
        public Result {
            Objects.requireNonNull(text, "text");
            Objects.requireNonNull(matchedStop, "matchedStop");
        }

        public boolean stopped() {
            return matchedStop.isPresent();
        }
    }

    private final List<String> stops;
    private final int longestStop;
    private String pending = "";
    private boolean ended;

    /** @throws IllegalArgumentException when a stop string is null or empty */
    public StopStringMatcher(List<String> stops) {
        Objects.requireNonNull(stops, "stops");
        int longest = 0;
        for (int i = 0; i < stops.size(); i++) {
            String s = stops.get(i);
            if (s == null || s.isEmpty()) {
                throw new IllegalArgumentException("stop[" + i + "] must be a non-empty string, got "
                        + (s == null ? "null" : "\"\""));
            }
            longest = Math.max(longest, s.length());
        }
        this.stops = List.copyOf(stops);
        this.longestStop = longest;
    }

    /**
     * Adds the next piece of generated text.
     *
     * @throws IllegalStateException after a stop string matched or {@link #flush} was called
     */
    public Result append(String delta) {
        Objects.requireNonNull(delta, "delta");
        if (ended) {
            throw new IllegalStateException("append after the stream ended (a stop string matched or flush() was called)");
        }
        String text = pending.concat(delta);
        int matchAt = -1;
        String matched = null;
        for (String stop : stops) {
            int at = text.indexOf(stop);
            if (at >= 0 && (matchAt < 0 || at < matchAt)) {
                matchAt = at;
                matched = stop;
            }
        }
        if (matched != null) {
            ended = true;
            pending = "";
            return new Result(text.substring(0, matchAt), Optional.of(matched));
        }
        int emitEnd = text.length() - heldBackLength(text);
        if (emitEnd > 0 && Character.isHighSurrogate(text.charAt(emitEnd - 1))) {
            emitEnd--;
        }
        pending = text.substring(emitEnd);
        return new Result(text.substring(0, emitEnd), Optional.empty());
    }

    /** Ends the stream for a reason other than a stop string: the held-back text, or "" after a stop matched. */
    public String flush() {
        String rest = pending;
        pending = "";
        ended = true;
        return rest;
    }

    /** Text held back so far (a possible start of a stop string). */
    public String pending() {
        return pending;
    }

    /** Length of the longest suffix of {@code text} that is a proper prefix of some stop string. */
    private int heldBackLength(String text) {
        for (int length = Math.min(text.length(), longestStop - 1); length > 0; length--) {
            int from = text.length() - length;
            for (String stop : stops) {
                if (stop.length() > length && text.regionMatches(from, stop, 0, length)) {
                    return length;
                }
            }
        }
        return 0;
    }
}
