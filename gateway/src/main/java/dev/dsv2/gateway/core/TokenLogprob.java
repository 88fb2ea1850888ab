package dev.dsv2.gateway.core;

import java.util.List;

/**
 * The logprob of one generated token and the step's best alternatives, best first. {@code token} is the token's
 * own text (special tokens spelled out; a piece of a multi-byte character decodes to U+FFFD).
 */
public record TokenLogprob(int tokenId, String token, float logprob, List<Alternative> top) {
    public TokenLogprob {
        top = List.copyOf(top);
    }

    public record Alternative(int tokenId, String token, float logprob) {
    }
}
