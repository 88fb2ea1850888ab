package dev.dsv2.gateway.core;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.StopStringMatcher;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.gateway.router.RouterClient;
import dev.dsv2.gateway.router.RouterListener;
import dev.dsv2.tokenizer.HfTokenizer;
import dev.dsv2.tokenizer.StreamingDetokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * One sequence on its way back from the router: ids become text (streaming detokenizer), text is cut at the first
 * stop string (OpenAI semantics: the output ends right before it), logprobs get their token texts, and the result
 * goes to a {@link GenerationSink}.
 *
 * <p>When a stop string matches, the sequence finishes with {@code stop} at once and the router request is aborted
 * (its cache blocks are freed); tokens or the {@code abort} completion that the router still sends are ignored.
 * Usage counts the tokens up to and including the one that completed the stop string.
 */
final class TextGeneration implements RouterListener {
    private final int index;
    private final String routerRequestId;
    private final int promptTokens;
    private final HfTokenizer tokenizer;
    private final RouterClient router;
    private final StreamingDetokenizer detokenizer;
    private final StopStringMatcher stops;
    private final OutputOptions output;
    private final GenerationSink sink;
    private final ServingObserver.SequenceTimeline timeline;
    private final Runnable onEnd;
    private int generated;
    private boolean ended;

    TextGeneration(SequenceSpec spec, String routerRequestId, HfTokenizer tokenizer, RouterClient router,
                   OutputOptions output, GenerationSink sink, ServingObserver.SequenceTimeline timeline,
                   Runnable onEnd) {
        this.index = spec.index();
        this.routerRequestId = routerRequestId;
        this.promptTokens = spec.promptLength();
        this.tokenizer = tokenizer;
        this.router = router;
        this.detokenizer = tokenizer.newStreamingDetokenizer(!output.includeSpecialTokens());
        this.stops = new StopStringMatcher(spec.params().stop());
        this.output = output;
        this.sink = sink;
        this.timeline = timeline;
        this.onEnd = onEnd;
    }

    String routerRequestId() {
        return routerRequestId;
    }

    @Override
    public void onToken(int tokenId, float logprob, TopLogprobs top) {
        if (ended) {
            return;
        }
        generated++;
        timeline.token();
        StopStringMatcher.Result r = stops.append(detokenize(tokenId));
        sink.onDelta(index, tokenId, r.text(), output.logprobs() ? logprobEntry(tokenId, logprob, top) : null);
        if (r.stopped()) {
            end();
            router.abort(routerRequestId);
            timeline.finished(FinishReason.STOP, promptTokens, generated);
            sink.onFinish(index, FinishReason.STOP, "", new Usage(promptTokens, generated));
        }
    }

    @Override
    public void onComplete(FinishReason reason, int routerPromptTokens, int completionTokens) {
        if (ended) {
            return;
        }
        end();
        StopStringMatcher.Result r = stops.append(detokenizer.finish());
        String tail = r.stopped() ? r.text() : r.text() + stops.flush();
        FinishReason why = r.stopped() ? FinishReason.STOP : reason;
        timeline.finished(why, promptTokens, generated);
        sink.onFinish(index, why, tail, new Usage(promptTokens, generated));
    }

    @Override
    public void onError(ErrorKind kind, String message) {
        if (ended) {
            return;
        }
        end();
        timeline.failed();
        sink.onError(index, ApiError.of(kind, message));
    }

    private void end() {
        ended = true;
        onEnd.run();
    }

    /** The text a generated id adds; ids the tokenizer does not know (padding rows of the vocab) add nothing. */
    private String detokenize(int tokenId) {
        try {
            return detokenizer.accept(tokenId);
        } catch (IllegalArgumentException unknownId) {
            return "";
        }
    }

    private TokenLogprob logprobEntry(int tokenId, float logprob, TopLogprobs top) {
        List<TokenLogprob.Alternative> alternatives = new ArrayList<>();
        if (top != null) {
            for (int r = 0; r < Math.min(output.topLogprobs(), top.size()); r++) {
                alternatives.add(new TokenLogprob.Alternative(top.id(r), tokenText(tokenizer, top.id(r)),
                        top.logprob(r)));
            }
        }
        return new TokenLogprob(tokenId, tokenText(tokenizer, tokenId), logprob, alternatives);
    }

    /** One token decoded on its own, special tokens spelled out; "" for an id outside the tokenizer. */
    static String tokenText(HfTokenizer tokenizer, int tokenId) {
        try {
            return tokenizer.decode(new int[]{tokenId}, false);
        } catch (IllegalArgumentException unknownId) {
            return "";
        }
    }
}
