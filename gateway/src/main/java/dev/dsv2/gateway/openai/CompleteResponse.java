package dev.dsv2.gateway.openai;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.core.InFlightLimit;
import dev.dsv2.gateway.core.ServingObserver;
import dev.dsv2.gateway.core.TokenLogprob;
import dev.dsv2.gateway.core.Usage;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Collects every choice of a non-streaming request into one {@code chat.completion} or {@code text_completion}
 * object (choices in index order, usage summed) and completes {@link #result} with it, or with the first error.
 * Cancelling {@link #result} (the client went away) aborts the request's sequences.
 */
final class CompleteResponse extends RequestSink {
    private final CompletableFuture<OpenAiResponse> result = new CompletableFuture<>();
    private final Choice[] choices;

    private static final class Choice {
        final StringBuilder text = new StringBuilder();
        final List<TokenLogprob> logprobs = new ArrayList<>();
        final List<Integer> offsets = new ArrayList<>();
        FinishReason reason;
    }

    CompleteResponse(OpenAiRequest request, String id, long created, InFlightLimit.Permit permit, String api,
                     ServingObserver observer) {
        super(request, id, created, permit, api, observer);
        this.choices = new Choice[request.sequences().size()];
        for (int i = 0; i < choices.length; i++) {
            choices[i] = new Choice();
        }
        result.whenComplete((response, failure) -> {
            if (failure instanceof java.util.concurrent.CancellationException) {
                cancel();
            }
        });
    }

    CompletableFuture<OpenAiResponse> result() {
        return result;
    }

    @Override
    void delta(int index, String text, TokenLogprob logprob) {
        Choice c = choices[index];
        if (logprob != null) {
            c.offsets.add(c.text.length());
            c.logprobs.add(logprob);
        }
        c.text.append(text);
    }

    @Override
    void finish(int index, FinishReason reason, String text) {
        choices[index].text.append(text);
        choices[index].reason = reason;
    }

    @Override
    void complete(Usage usage) {
        boolean chat = request.endpoint() == Endpoint.CHAT;
        ObjectNode body = OpenAiJson.envelope(id, request.endpoint().object(), created, request.model());
        ArrayNode out = body.putArray("choices");
        for (int i = 0; i < choices.length; i++) {
            Choice c = choices[i];
            ObjectNode choice = out.addObject();
            choice.put("index", i);
            if (chat) {
                ObjectNode message = choice.putObject("message");
                message.put("role", "assistant");
                message.put("content", c.text.toString());
                message.putNull("refusal");
            } else {
                choice.put("text", c.text.toString());
            }
            if (!request.output().logprobs()) {
                choice.putNull("logprobs");
            } else if (chat) {
                choice.set("logprobs", OpenAiJson.chatLogprobs(c.logprobs));
            } else {
                choice.set("logprobs", OpenAiJson.completionLogprobs(c.logprobs, c.offsets));
            }
            choice.put("finish_reason", c.reason.openAiName());
        }
        body.set("usage", OpenAiJson.usage(usage));
        result.complete(new OpenAiResponse(200, body));
    }

    @Override
    void fail(ApiError error) {
        result.complete(OpenAiErrors.response(error));
    }
}
