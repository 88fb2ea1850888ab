package dev.dsv2.gateway.openai;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Where a streaming response goes: server-sent events {@code data: <json>\n\n}, then {@code data: [DONE]\n\n}.
 * The first {@link #send} commits the response (HTTP 200, {@code text/event-stream}). Calls are serialized by the
 * caller.
 */
public interface SseChannel {
    void send(JsonNode event);

    /** Writes {@code data: [DONE]} and ends the response. */
    void done();
}
