package dev.dsv2.engine.sample;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;

/**
 * How one request chooses and stops its tokens, with the OpenAI API's names and ranges.
 *
 * <ul>
 *   <li>{@code temperature} in [0, 2]; 0 is greedy (argmax).
 *   <li>{@code topP} ({@code top_p}) in (0, 1]; 1 disables nucleus sampling.
 *   <li>{@code topK} ({@code top_k}, a vLLM extension); {@code <= 0} disables it.
 *   <li>{@code seed}: empty for a fresh random seed per request.
 *   <li>{@code maxTokens} ({@code max_tokens}) >= 1: the most tokens to generate.
 *   <li>{@code stop}: strings that end generation, the match itself not returned (see {@link StopStringMatcher}).
 *   <li>{@code stopTokenIds} ({@code stop_token_ids}, vLLM): token ids that end generation besides EOS.
 *   <li>{@code ignoreEos} ({@code ignore_eos}, vLLM): keep generating past EOS (benchmarks).
 *   <li>{@code logprobs}: how many top logprobs to return per generated token, 0 for none.
 * </ul>
 * The constructor only normalises (null collections become empty, collections are copied unmodifiable); the ranges
 * that depend on the model and the server are checked by {@link #validate}, with messages that name the parameter the
 * way the API does.
 */
public record SamplingParams(double temperature, double topP, int topK, OptionalLong seed, int maxTokens,
                             List<String> stop, Set<Integer> stopTokenIds, boolean ignoreEos, int logprobs) {
    public static final double MAX_TEMPERATURE = 2.0;
    /** The OpenAI API's limit on {@code stop}. */
    public static final int DEFAULT_MAX_STOP_SEQUENCES = 4;
    /** The OpenAI completions API's default {@code max_tokens}. */
    public static final int DEFAULT_MAX_TOKENS = 16;

    public SamplingParams {
        seed = seed == null ? OptionalLong.empty() : seed;
        stop = stop == null ? List.of() : copyStops(stop);
        stopTokenIds = stopTokenIds == null ? Set.of() : copyStopTokenIds(stopTokenIds);
    }

    /** Greedy decoding of at most {@code maxTokens} tokens, no stops, no logprobs. */
    public static SamplingParams greedy(int maxTokens) {
        return builder().temperature(0.0).maxTokens(maxTokens).build();
    }

    /**
     * A builder with the API defaults: temperature 1, top_p 1, top_k off, no seed, max_tokens
     * {@value #DEFAULT_MAX_TOKENS}, no stops, no logprobs.
     */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder that starts from these values. */
    public Builder toBuilder() {
        return new Builder().temperature(temperature).topP(topP).topK(topK).seed(seed).maxTokens(maxTokens)
                .stop(stop).stopTokenIds(stopTokenIds).ignoreEos(ignoreEos).logprobs(logprobs);
    }

    public boolean isGreedy() {
        return temperature == 0.0;
    }

    public boolean topKEnabled() {
        return topK > 0;
    }

    public boolean topPEnabled() {
        return topP < 1.0;
    }

    /** {@link #validate(int, int, int)} with the OpenAI limit of {@value #DEFAULT_MAX_STOP_SEQUENCES} stops. */
    public SamplingParams validate(int vocabSize, int maxLogprobs) {
        return validate(vocabSize, maxLogprobs, DEFAULT_MAX_STOP_SEQUENCES);
    }

    /**
     * Checks every range against the model's vocab and the server's limits.
     *
     * @return this, for chaining
     * @throws IllegalArgumentException naming the first bad parameter, its value and the accepted range
     */
    public SamplingParams validate(int vocabSize, int maxLogprobs, int maxStopSequences) {
        if (vocabSize < 1 || maxLogprobs < 0 || maxStopSequences < 0) {
            throw new IllegalArgumentException("validate(vocabSize " + vocabSize + ", maxLogprobs " + maxLogprobs
                    + ", maxStopSequences " + maxStopSequences + "): need vocabSize >= 1 and the limits >= 0");
        }
        checkSamplerRanges();
        if (maxTokens < 1) {
            throw new IllegalArgumentException("max_tokens must be >= 1, got " + maxTokens);
        }
        if (stop.size() > maxStopSequences) {
            throw new IllegalArgumentException("stop: at most " + maxStopSequences + " stop sequences, got "
                    + stop.size());
        }
        for (int i = 0; i < stop.size(); i++) {
            if (stop.get(i).isEmpty()) {
                throw new IllegalArgumentException("stop[" + i + "] must not be an empty string");
            }
        }
        for (int id : stopTokenIds) {
            if (id < 0 || id >= vocabSize) {
                throw new IllegalArgumentException("stop_token_ids must be in [0, " + vocabSize + "), got " + id);
            }
        }
        if (logprobs < 0 || logprobs > maxLogprobs) {
            throw new IllegalArgumentException("logprobs must be in [0, " + maxLogprobs + "], got " + logprobs);
        }
        return this;
    }

    /** The ranges {@link Sampler} relies on, which need no model: temperature and top_p. */
    void checkSamplerRanges() {
        if (!(temperature >= 0.0 && temperature <= MAX_TEMPERATURE)) {
            throw new IllegalArgumentException("temperature must be in [0, 2], got " + temperature);
        }
        if (!(topP > 0.0 && topP <= 1.0)) {
            throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        }
    }

    private static List<String> copyStops(List<String> stop) {
        List<String> copy = new ArrayList<>(stop.size());
        for (int i = 0; i < stop.size(); i++) {
            String s = stop.get(i);
            if (s == null) {
                throw new IllegalArgumentException("stop[" + i + "] must be a string, got null");
            }
            copy.add(s);
        }
        return Collections.unmodifiableList(copy);
    }

    private static Set<Integer> copyStopTokenIds(Set<Integer> ids) {
        TreeSet<Integer> sorted = new TreeSet<>();
        for (Integer id : ids) {
            if (id == null) {
                throw new IllegalArgumentException("stop_token_ids must hold integers, got null");
            }
            sorted.add(id);
        }
        return Collections.unmodifiableSortedSet(sorted);
    }

    /** Fluent builder; see {@link SamplingParams#builder()} for the defaults. */
    public static final class Builder {
        private double temperature = 1.0;
        private double topP = 1.0;
        private int topK = 0;
        private OptionalLong seed = OptionalLong.empty();
        private int maxTokens = DEFAULT_MAX_TOKENS;
        private List<String> stop = List.of();
        private Set<Integer> stopTokenIds = Set.of();
        private boolean ignoreEos;
        private int logprobs;

        private Builder() {
        }

        public Builder temperature(double temperature) {
            this.temperature = temperature;
            return this;
        }

        public Builder topP(double topP) {
            this.topP = topP;
            return this;
        }

        public Builder topK(int topK) {
            this.topK = topK;
            return this;
        }

        public Builder seed(long seed) {
            this.seed = OptionalLong.of(seed);
            return this;
        }

        public Builder seed(OptionalLong seed) {
            this.seed = seed;
            return this;
        }

        public Builder maxTokens(int maxTokens) {
            this.maxTokens = maxTokens;
            return this;
        }

        public Builder stop(List<String> stop) {
            this.stop = stop;
            return this;
        }

        public Builder stopTokenIds(Set<Integer> stopTokenIds) {
            this.stopTokenIds = stopTokenIds;
            return this;
        }

        public Builder ignoreEos(boolean ignoreEos) {
            this.ignoreEos = ignoreEos;
            return this;
        }

        public Builder logprobs(int logprobs) {
            this.logprobs = logprobs;
            return this;
        }

        public SamplingParams build() {
            return new SamplingParams(temperature, topP, topK, seed, maxTokens, stop, stopTokenIds, ignoreEos,
                    logprobs);
        }
    }
}
