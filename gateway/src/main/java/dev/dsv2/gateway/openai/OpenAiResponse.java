package dev.dsv2.gateway.openai;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * A complete (non-streaming) OpenAI API response: the HTTP status and the exact JSON body the HTTP endpoint returns,
 * a success object or an error in OpenAI's shape {@code {"error":{"message","type","param","code"}}}. The Kafka
 * batch consumer writes these as the Batch API's {@code response.status_code} and {@code response.body}.
 */
public record OpenAiResponse(int status, JsonNode body) {
    public boolean ok() {
        return status == 200;
    }
}
