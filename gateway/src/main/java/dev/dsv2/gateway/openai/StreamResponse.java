package dev.dsv2.gateway.openai;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.core.InFlightLimit;
import dev.dsv2.gateway.core.ServingObserver;
import dev.dsv2.gateway.core.TokenLogprob;
import dev.dsv2.gateway.core.Usage;

import java.util.List;

/**
 * Writes a streaming request as OpenAI's chunks: {@code chat.completion.chunk} (a first delta with the role per
 * choice, then {@code content} deltas, then an empty delta with {@code finish_reason}) or {@code text_completion}
 * chunks ({@code text} deltas, then {@code finish_reason}). With {@code stream_options.include_usage} every chunk has
 * {@code "usage": null} and a last chunk with no choices carries the usage. A failure after the stream started is
 * sent as {@code data: {"error": {...}}}. The stream always ends with {@code data: [DONE]}.
 */
final class StreamResponse extends RequestSink {
    private final SseChannel channel;
    private final boolean[] roleSent;
    private final int[] textLength;

    StreamResponse(OpenAiRequest request, String id, long created, InFlightLimit.Permit permit, String api,
                   ServingObserver observer, SseChannel channel) {
        super(request, id, created, permit, api, observer);
        this.channel = channel;
        this.roleSent = new boolean[request.sequences().size()];
        this.textLength = new int[request.sequences().size()];
    }

    private boolean chat() {
        return request.endpoint() == Endpoint.CHAT;
    }

    /** A chunk with one choice; {@code content} null = no text field in a chat delta. */
    private ObjectNode chunk(int index, String content, TokenLogprob logprob, FinishReason reason) {
        ObjectNode chunk = OpenAiJson.envelope(id, request.endpoint().chunkObject(), created, request.model());
        ObjectNode choice = chunk.putArray("choices").addObject();
        choice.put("index", index);
        if (chat()) {
            ObjectNode delta = choice.putObject("delta");
            if (!roleSent[index]) {
                roleSent[index] = true;
                delta.put("role", "assistant");
                if (content == null) {
                    content = "";
                }
            }
            if (content != null) {
                delta.put("content", content);
            }
        } else {
            choice.put("text", content == null ? "" : content);
        }
        if (logprob == null) {
            choice.putNull("logprobs");
        } else if (chat()) {
            choice.set("logprobs", OpenAiJson.chatLogprobs(List.of(logprob)));
        } else {
            choice.set("logprobs", OpenAiJson.completionLogprobs(List.of(logprob), List.of(textLength[index])));
        }
        if (reason == null) {
            choice.putNull("finish_reason");
        } else {
            choice.put("finish_reason", reason.openAiName());
        }
        if (request.includeUsage()) {
            chunk.putNull("usage");
        }
        return chunk;
    }

    @Override
    void delta(int index, String text, TokenLogprob logprob) {
        if (text.isEmpty() && logprob == null && (roleSent[index] || !chat())) {
            return;
        }
        channel.send(chunk(index, text, logprob, null));
        textLength[index] += text.length();
    }

    @Override
    void finish(int index, FinishReason reason, String text) {
        if (!text.isEmpty()) {
            channel.send(chunk(index, text, null, null));
            textLength[index] += text.length();
        }
        channel.send(chunk(index, null, null, reason));
    }

    @Override
    void complete(Usage usage) {
        if (request.includeUsage()) {
            ObjectNode last = OpenAiJson.envelope(id, request.endpoint().chunkObject(), created, request.model());
            last.putArray("choices");
            last.set("usage", OpenAiJson.usage(usage));
            channel.send(last);
        }
        channel.done();
    }

    @Override
    void fail(ApiError error) {
        channel.send(OpenAiErrors.body(error));
        channel.done();
    }
}
