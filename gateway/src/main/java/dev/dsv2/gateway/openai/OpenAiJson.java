package dev.dsv2.gateway.openai;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.gateway.core.TokenLogprob;
import dev.dsv2.gateway.core.Usage;

import java.nio.charset.StandardCharsets;
import java.util.List;

/** The JSON pieces of OpenAI responses: envelopes, usage, and both logprobs formats. */
final class OpenAiJson {
    static final JsonNodeFactory F = JsonNodeFactory.instance;
    /** What OpenAI reports for a logprob of minus infinity (JSON has no infinities). */
    static final float NEG_INF_LOGPROB = -9999.0f;

    private OpenAiJson() {
    }

    /** {@code id, object, created, model, system_fingerprint} — the head every response and chunk shares. */
    static ObjectNode envelope(String id, String object, long created, String model) {
        ObjectNode o = F.objectNode();
        o.put("id", id);
        o.put("object", object);
        o.put("created", created);
        o.put("model", model);
        o.putNull("system_fingerprint");
        return o;
    }

    static ObjectNode usage(Usage u) {
        ObjectNode o = F.objectNode();
        o.put("prompt_tokens", u.promptTokens());
        o.put("completion_tokens", u.completionTokens());
        o.put("total_tokens", u.totalTokens());
        return o;
    }

    static float finite(float logprob) {
        return Float.isFinite(logprob) ? logprob : NEG_INF_LOGPROB;
    }

    static ArrayNode bytes(String token) {
        ArrayNode a = F.arrayNode();
        for (byte b : token.getBytes(StandardCharsets.UTF_8)) {
            a.add(b & 0xff);
        }
        return a;
    }

    /** One entry of the chat format's {@code logprobs.content}. */
    static ObjectNode chatLogprob(TokenLogprob lp) {
        ObjectNode o = F.objectNode();
        o.put("token", lp.token());
        o.put("logprob", finite(lp.logprob()));
        o.set("bytes", bytes(lp.token()));
        ArrayNode top = o.putArray("top_logprobs");
        for (TokenLogprob.Alternative a : lp.top()) {
            ObjectNode t = top.addObject();
            t.put("token", a.token());
            t.put("logprob", finite(a.logprob()));
            t.set("bytes", bytes(a.token()));
        }
        return o;
    }

    /** The chat format's {@code logprobs} object: {@code {"content": [...], "refusal": null}}. */
    static ObjectNode chatLogprobs(List<TokenLogprob> tokens) {
        ObjectNode o = F.objectNode();
        ArrayNode content = o.putArray("content");
        tokens.forEach(t -> content.add(chatLogprob(t)));
        o.putNull("refusal");
        return o;
    }

    /**
     * The completions format's {@code logprobs}: parallel arrays {@code tokens}, {@code token_logprobs},
     * {@code top_logprobs} (a token → logprob map per position) and {@code text_offset} (each token's character
     * offset in the completion text; {@code offsets[i]}).
     */
    static ObjectNode completionLogprobs(List<TokenLogprob> tokens, List<Integer> offsets) {
        ObjectNode o = F.objectNode();
        ArrayNode texts = o.putArray("tokens");
        ArrayNode lps = o.putArray("token_logprobs");
        ArrayNode tops = o.putArray("top_logprobs");
        ArrayNode textOffset = o.putArray("text_offset");
        for (int i = 0; i < tokens.size(); i++) {
            TokenLogprob t = tokens.get(i);
            texts.add(t.token());
            lps.add(finite(t.logprob()));
            ObjectNode top = tops.addObject();
            for (TokenLogprob.Alternative a : t.top()) {
                if (!top.has(a.token())) {
                    top.put(a.token(), finite(a.logprob()));
                }
            }
            textOffset.add(offsets.get(i));
        }
        return o;
    }
}
