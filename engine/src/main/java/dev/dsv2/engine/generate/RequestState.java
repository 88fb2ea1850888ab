package dev.dsv2.engine.generate;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.Logprobs;
import dev.dsv2.engine.sample.Sampler;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.sample.StopStringMatcher;
import dev.dsv2.engine.sample.TopLogprobs;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What happens to one request after each forward pass, shared by the single-sequence {@link Generator} and the
 * continuous-batching scheduler: top-K logprobs of the raw logits, sampling, stop conditions (eos, stop token ids,
 * stop strings on the detokenised text, max tokens, context limit) and streaming text deltas.
 */
public final class RequestState {
    private final int[] prompt;
    private final SamplingParams params;
    private final Sampler sampler;
    private final TextStream text;
    private final StopStringMatcher stops;
    private final int eosId;
    private final int contextLimit;
    private int[] output = new int[16];
    private int generated;
    private final List<TopLogprobs> logprobs = new ArrayList<>();
    private float[] tokenLogprobs = new float[16];
    private final StringBuilder fullText = new StringBuilder();
    private FinishReason finish;
    private boolean stoppedByString;
    /** A token {@link #choose} picked that {@link #accept} has not taken yet (-1: none), and its logprobs. */
    private int chosen = -1;
    private TopLogprobs chosenTop;
    private float chosenLogprob;

    /**
     * @param text   streaming detokeniser, or null when the model has no tokenizer (then stop strings are refused)
     * @param eosId  end-of-sequence id, or -1 for none
     */
    public RequestState(int[] prompt, SamplingParams params, TextStream text, int eosId, int contextLimit) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt is empty: at least one token is needed");
        }
        if (prompt.length >= contextLimit) {
            throw new IllegalArgumentException("the prompt has " + prompt.length + " tokens; the context limit is "
                    + contextLimit + " tokens including at least one generated token");
        }
        if (!params.stop().isEmpty() && text == null) {
            throw new IllegalArgumentException("stop strings need a tokenizer, and this model directory has none");
        }
        this.prompt = prompt.clone();
        this.params = params;
        this.sampler = new Sampler(params);
        this.text = text;
        this.stops = params.stop().isEmpty() ? null : new StopStringMatcher(params.stop());
        this.eosId = eosId;
        this.contextLimit = contextLimit;
    }

    public int[] prompt() {
        return prompt;
    }

    public SamplingParams params() {
        return params;
    }

    public int generated() {
        return generated;
    }

    /** The last generated token (the next forward pass's input). */
    public int lastToken() {
        return output[generated - 1];
    }

    /** The {@code i}-th generated token. */
    public int outputToken(int i) {
        if (i < 0 || i >= generated) {
            throw new IndexOutOfBoundsException("generated token " + i + " of " + generated);
        }
        return output[i];
    }

    /** The logprob of the last generated token, NaN when logprobs were not requested. */
    public float lastTokenLogprob() {
        return params.logprobs() > 0 && generated > 0 ? tokenLogprobs[generated - 1] : Float.NaN;
    }

    /** Tokens in the sequence so far: prompt + generated. */
    public int length() {
        return prompt.length + generated;
    }

    public boolean finished() {
        return finish != null;
    }

    public FinishReason finishReason() {
        return finish;
    }

    /**
     * Picks the next token from the logits {@code logits[off, off + vocab)} (with its logprobs when the request asks
     * for them) without applying it: the next {@link #accept} of the same logits takes it. Touches only this request's
     * state, so the requests of a batch can choose on different threads (the scheduler samples a batch on the
     * backend's pool); the token is the one {@link #accept} alone would pick, with the same random draw.
     */
    public void choose(float[] logits, int off, int vocab) {
        if (finish != null) {
            throw new IllegalStateException("request already finished (" + finish + ")");
        }
        chosenTop = params.logprobs() > 0 ? Logprobs.top(logits, off, vocab, params.logprobs()) : null;
        chosen = sampler.sample(logits, off, vocab);
        chosenLogprob = chosenTop != null ? Logprobs.of(logits, off, vocab, chosen) : 0f;
    }

    /**
     * Consumes the next-token logits {@code logits[off, off + vocab)}: picks the token (or takes the one
     * {@link #choose} picked from them), applies the stop rules and tells {@code listener}. Returns true when the
     * request is finished.
     */
    public boolean accept(float[] logits, int off, int vocab, TokenListener listener) {
        if (finish != null) {
            throw new IllegalStateException("request already finished (" + finish + ")");
        }
        if (chosen < 0) {
            choose(logits, off, vocab);
        }
        int token = chosen;
        TopLogprobs top = chosenTop;
        chosen = -1;
        chosenTop = null;
        if (generated == output.length) {
            output = Arrays.copyOf(output, generated * 2);
            tokenLogprobs = Arrays.copyOf(tokenLogprobs, generated * 2);
        }
        if (top != null) {
            logprobs.add(top);
            tokenLogprobs[generated] = chosenLogprob;
        }
        output[generated++] = token;
        String delta = "";
        if (token == eosId && !params.ignoreEos() || params.stopTokenIds().contains(token)) {
            finish = FinishReason.STOP;
        } else {
            delta = text == null ? "" : text.append(token);
            if (stops != null) {
                StopStringMatcher.Result r = stops.append(delta);
                delta = r.text();
                if (r.stopped()) {
                    finish = FinishReason.STOP;
                    stoppedByString = true;
                }
            }
        }
        if (finish == null && (generated >= params.maxTokens() || length() >= contextLimit)) {
            finish = FinishReason.LENGTH;
        }
        if (finish != null && !stoppedByString) {
            delta += flushText();
        }
        fullText.append(delta);
        listener.onToken(token, delta, top);
        return finish != null;
    }

    private String flushText() {
        String tail = text == null ? "" : text.flush();
        if (stops != null) {
            StopStringMatcher.Result r = stops.append(tail);
            return r.stopped() ? r.text() : r.text() + stops.flush();
        }
        return tail;
    }

    /** Ends the request early (client abort, error). */
    public void abort(FinishReason reason) {
        if (finish == null) {
            finish = reason;
        }
        chosen = -1;
        chosenTop = null;
    }

    public GenerationResult result() {
        return new GenerationResult(prompt.clone(), Arrays.copyOf(output, generated), fullText.toString(), finish,
                List.copyOf(logprobs), params.logprobs() > 0 ? Arrays.copyOf(tokenLogprobs, generated) : new float[0]);
    }
}
