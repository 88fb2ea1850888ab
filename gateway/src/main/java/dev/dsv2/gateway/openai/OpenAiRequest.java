package dev.dsv2.gateway.openai;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.core.OutputOptions;
import dev.dsv2.gateway.core.Prompts;
import dev.dsv2.gateway.core.SequenceSpec;
import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.tokenizer.ChatMessage;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.Set;

/**
 * A validated OpenAI {@code /v1/chat/completions} or {@code /v1/completions} request, tokenized: what
 * {@link OpenAiApi} needs to run it. {@link #parse} follows the OpenAI API's field names, types, defaults and ranges;
 * the few vLLM extensions ({@code top_k}, {@code ignore_eos}, {@code stop_token_ids}, {@code skip_special_tokens})
 * are accepted too, unknown fields are ignored (as vLLM does), and features this server does not have (tools,
 * penalties, logit_bias, JSON mode, echo, suffix) are refused with a 400 naming the field rather than ignored.
 *
 * @param prompts        one tokenized prompt (chat), or one per completions prompt
 * @param promptTokens   tokens of all prompts (usage counts each prompt once, however large n is)
 * @param n              choices per prompt
 * @param includeUsage   {@code stream_options.include_usage}
 */
public record OpenAiRequest(Endpoint endpoint, String model, List<int[]> prompts, int n,
                            List<SequenceSpec> sequences, OutputOptions output, boolean stream,
                            boolean includeUsage, int promptTokens) {
    /** OpenAI's limit on {@code n}. */
    public static final int MAX_N = 128;

    /**
     * Validates and tokenizes {@code body}.
     *
     * @param cacheTokens the router's KV cache capacity (clamps the default max_tokens), 0 when unknown
     * @throws ApiError 400 naming the field, 404 for another model, 400 context_length_exceeded
     */
    public static OpenAiRequest parse(Endpoint endpoint, JsonNode body, ServedModel served, long cacheTokens) {
        if (body == null || !body.isObject()) {
            throw ApiError.invalid(null, "the request body must be a JSON object");
        }
        JsonParams p = new JsonParams(body);
        String model = p.string("model").orElseThrow(() -> ApiError.invalid("model",
                "you must provide a model parameter (this server serves \"" + served.name() + "\")"));
        if (!model.equals(served.name())) {
            throw new ApiError(ApiError.Kind.NOT_FOUND, "model", ApiError.MODEL_NOT_FOUND, "The model `"
                    + Prompts.clip(model) + "` does not exist. This server serves `" + served.name() + "` (see GET /v1/models).");
        }
        boolean stream = p.bool("stream", false);
        boolean includeUsage = false;
        JsonNode streamOptions = p.get("stream_options");
        if (streamOptions != null) {
            if (!stream) {
                throw ApiError.invalid("stream_options",
                        "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
            }
            if (!streamOptions.isObject()) {
                throw JsonParams.wrongType("stream_options", "an object", streamOptions);
            }
            includeUsage = new JsonParams(streamOptions).bool("include_usage", false);
        }
        refuseUnsupported(endpoint, p);
        int n = p.integer("n", 1, MAX_N).orElse(1);
        if (endpoint == Endpoint.COMPLETIONS) {
            OptionalInt bestOf = p.integer("best_of", 1, MAX_N);
            if (bestOf.isPresent() && bestOf.getAsInt() != n) {
                throw ApiError.invalid("best_of", "best_of must equal n (" + n + ") on this server, got "
                        + bestOf.getAsInt());
            }
        }

        String promptParam = endpoint == Endpoint.CHAT ? "messages" : "prompt";
        List<int[]> prompts = endpoint == Endpoint.CHAT
                ? List.of(Prompts.encodeChat(served, messages(p.get("messages")), "messages"))
                : completionPrompts(p.get("prompt"), served);

        String maxParam = p.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        OptionalInt maxTokens = p.integer(maxParam, 1, Integer.MAX_VALUE);
        int defaultMax = endpoint == Endpoint.CHAT ? Integer.MAX_VALUE : SamplingParams.DEFAULT_MAX_TOKENS;

        OutputOptions output = output(endpoint, p);
        SamplingParams.Builder sampling = SamplingParams.builder();
        p.number("temperature", 0, false, SamplingParams.MAX_TEMPERATURE).ifPresent(sampling::temperature);
        p.number("top_p", 0, true, 1).ifPresent(sampling::topP);
        OptionalInt topK = p.integer("top_k", -1, Integer.MAX_VALUE);
        topK.ifPresent(k -> sampling.topK(Math.max(0, k)));
        OptionalLong seed = p.integer("seed");
        sampling.stop(stops(p.get("stop")));
        sampling.stopTokenIds(stopTokenIds(p.get("stop_token_ids"), served.vocabSize()));
        sampling.ignoreEos(p.bool("ignore_eos", false));

        List<SequenceSpec> sequences = new ArrayList<>();
        int promptTokens = 0;
        for (int i = 0; i < prompts.size(); i++) {
            int[] prompt = prompts.get(i);
            promptTokens += prompt.length;
            String param = prompts.size() == 1 ? promptParam : promptParam + "[" + i + "]";
            int max = Prompts.maxTokens(prompt.length, maxTokens, defaultMax, served.contextLimit(), cacheTokens,
                    param, maxParam);
            for (int c = 0; c < n; c++) {
                SamplingParams.Builder b = sampling.maxTokens(max);
                if (seed.isPresent()) {
                    b.seed(seed.getAsLong() + c);
                }
                sequences.add(new SequenceSpec(i * n + c, prompt, b.build()));
            }
        }
        return new OpenAiRequest(endpoint, model, prompts, n, List.copyOf(sequences), output, stream, includeUsage,
                promptTokens);
    }

    private static void refuseUnsupported(Endpoint endpoint, JsonParams p) {
        for (String penalty : List.of("presence_penalty", "frequency_penalty")) {
            OptionalDouble v = p.number(penalty, -2, false, 2);
            if (v.isPresent() && v.getAsDouble() != 0) {
                throw ApiError.invalid(penalty, penalty + " is not supported by this server (only 0)");
            }
        }
        JsonNode logitBias = p.get("logit_bias");
        if (logitBias != null && (!logitBias.isObject() || !logitBias.isEmpty())) {
            throw ApiError.invalid("logit_bias", "logit_bias is not supported by this server");
        }
        JsonNode format = p.get("response_format");
        if (format != null && !"text".equals(format.path("type").asText())) {
            throw ApiError.invalid("response_format", "response_format " + format.path("type")
                    + " is not supported by this server (only {\"type\": \"text\"})");
        }
        JsonNode tools = p.get("tools");
        if (tools != null && (!tools.isArray() || !tools.isEmpty())) {
            throw ApiError.invalid("tools", "tool calling is not supported by this server");
        }
        JsonNode toolChoice = p.get("tool_choice");
        if (toolChoice != null && !"none".equals(toolChoice.asText())) {
            throw ApiError.invalid("tool_choice", "tool_choice must be \"none\": tool calling is not supported");
        }
        if (endpoint == Endpoint.COMPLETIONS) {
            if (p.bool("echo", false)) {
                throw ApiError.invalid("echo", "echo=true is not supported by this server; send echo=false or "
                        + "leave it out");
            }
            if (p.string("suffix").filter(s -> !s.isEmpty()).isPresent()) {
                throw ApiError.invalid("suffix", "suffix is not supported by this server");
            }
        }
    }

    private static OutputOptions output(Endpoint endpoint, JsonParams p) {
        boolean includeSpecial = !p.bool("skip_special_tokens", true);
        if (endpoint == Endpoint.CHAT) {
            boolean logprobs = p.bool("logprobs", false);
            OptionalInt top = p.integer("top_logprobs", 0, OutputOptions.MAX_TOP_LOGPROBS);
            if (top.isPresent() && !logprobs) {
                throw ApiError.invalid("top_logprobs", "top_logprobs requires logprobs to be true");
            }
            return new OutputOptions(includeSpecial, logprobs, top.orElse(0));
        }
        OptionalInt logprobs = p.integer("logprobs", 0, OutputOptions.MAX_TOP_LOGPROBS);
        return new OutputOptions(includeSpecial, logprobs.isPresent(), logprobs.orElse(0));
    }

    static List<ChatMessage> messages(JsonNode messages) {
        if (messages == null) {
            throw ApiError.invalid("messages", "you must provide messages (a non-empty array)");
        }
        if (!messages.isArray()) {
            throw JsonParams.wrongType("messages", "an array", messages);
        }
        if (messages.isEmpty()) {
            throw ApiError.invalid("messages", "messages must hold at least one message");
        }
        List<ChatMessage> out = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            String at = "messages[" + i + "]";
            if (!m.isObject()) {
                throw JsonParams.wrongType(at, "an object", m);
            }
            JsonNode roleNode = m.get("role");
            String given = roleNode == null || !roleNode.isTextual() ? null : roleNode.textValue();
            String role = Prompts.role(given, at);
            String content = content(m.get("content"), at + ".content");
            if (content == null && !role.equals("assistant")) {
                throw ApiError.invalid(at + ".content", at + ".content is required for role " + role);
            }
            List<ChatMessage.ToolCall> calls = toolCalls(m.get("tool_calls"), at + ".tool_calls");
            Map<String, Object> extra = new java.util.LinkedHashMap<>();
            if (m.path("tool_call_id").isTextual()) {
                extra.put("tool_call_id", m.get("tool_call_id").textValue());
            }
            if (m.path("name").isTextual()) {
                extra.put("name", m.get("name").textValue());
            }
            out.add(new ChatMessage(role, content, calls, extra));
        }
        return out;
    }

    /** A string, or the text parts of a content array concatenated; null when absent. */
    private static String content(JsonNode content, String at) {
        if (content == null || content.isNull()) {
            return null;
        }
        if (content.isTextual()) {
            return content.textValue();
        }
        if (!content.isArray()) {
            throw JsonParams.wrongType(at, "a string or an array of content parts", content);
        }
        StringBuilder text = new StringBuilder();
        for (int j = 0; j < content.size(); j++) {
            JsonNode part = content.get(j);
            if ("text".equals(part.path("type").asText()) && !part.path("text").isTextual()) {
                throw ApiError.invalid(at, at + "[" + j + "].text is required (a string) in a text content part");
            }
            if (!"text".equals(part.path("type").asText())) {
                throw ApiError.invalid(at, at + "[" + j + "]: only text content parts ({\"type\": \"text\", "
                        + "\"text\": ...}) are supported, got type " + part.path("type"));
            }
            text.append(part.get("text").textValue());
        }
        return text.toString();
    }

    private static List<ChatMessage.ToolCall> toolCalls(JsonNode calls, String at) {
        if (calls == null || calls.isNull()) {
            return List.of();
        }
        if (!calls.isArray()) {
            throw JsonParams.wrongType(at, "an array", calls);
        }
        List<ChatMessage.ToolCall> out = new ArrayList<>();
        for (int j = 0; j < calls.size(); j++) {
            JsonNode f = calls.get(j).path("function");
            if (!f.path("name").isTextual() || !f.path("arguments").isTextual()) {
                throw ApiError.invalid(at, at + "[" + j + "] needs function.name and function.arguments strings");
            }
            JsonNode id = calls.get(j).get("id");
            out.add(new ChatMessage.ToolCall(id != null && id.isTextual() ? id.textValue() : null,
                    f.get("name").textValue(), f.get("arguments").textValue()));
        }
        return out;
    }

    /** {@code prompt}: a string, an array of strings, an array of token ids, or an array of such arrays. */
    static List<int[]> completionPrompts(JsonNode prompt, ServedModel served) {
        if (prompt == null) {
            throw ApiError.invalid("prompt", "you must provide a prompt");
        }
        if (prompt.isTextual()) {
            return List.of(Prompts.encodeText(served, prompt.textValue(), "prompt"));
        }
        if (!prompt.isArray() || prompt.isEmpty()) {
            throw ApiError.invalid("prompt", "prompt must be a string, an array of strings, an array of token ids "
                    + "or an array of token id arrays (non-empty)");
        }
        if (prompt.get(0).isIntegralNumber()) {
            return List.of(Prompts.checkIds(served, ids(prompt, "prompt"), "prompt"));
        }
        List<int[]> out = new ArrayList<>();
        boolean texts = prompt.get(0).isTextual();
        for (int i = 0; i < prompt.size(); i++) {
            JsonNode one = prompt.get(i);
            String at = "prompt[" + i + "]";
            if (one.isTextual() != texts && (one.isTextual() || one.isArray())) {
                throw ApiError.invalid("prompt", "prompt mixes strings and token id arrays (" + at + " is "
                        + JsonParams.describe(one) + ", prompt[0] is " + JsonParams.describe(prompt.get(0))
                        + "); send one kind");
            }
            if (one.isTextual()) {
                out.add(Prompts.encodeText(served, one.textValue(), at));
            } else if (one.isArray()) {
                out.add(Prompts.checkIds(served, ids(one, at), at));
            } else {
                throw JsonParams.wrongType(at, "a string or an array of token ids", one);
            }
        }
        return out;
    }

    private static int[] ids(JsonNode array, String at) {
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode v = array.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToInt()) {
                throw JsonParams.wrongType(at + "[" + i + "]", "an integer token id", v);
            }
            ids[i] = v.intValue();
        }
        return ids;
    }

    static List<String> stops(JsonNode stop) {
        if (stop == null || stop.isNull()) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        if (stop.isTextual()) {
            out.add(stop.textValue());
        } else if (stop.isArray()) {
            for (JsonNode s : stop) {
                if (!s.isTextual()) {
                    throw JsonParams.wrongType("stop", "a string or an array of strings", s);
                }
                out.add(s.textValue());
            }
        } else {
            throw JsonParams.wrongType("stop", "a string or an array of strings", stop);
        }
        if (out.size() > SamplingParams.DEFAULT_MAX_STOP_SEQUENCES) {
            throw ApiError.invalid("stop", "stop: at most " + SamplingParams.DEFAULT_MAX_STOP_SEQUENCES
                    + " stop sequences, got " + out.size());
        }
        for (int i = 0; i < out.size(); i++) {
            if (out.get(i).isEmpty()) {
                throw ApiError.invalid("stop", "stop sequences must not be empty (stop[" + i + "] is \"\")");
            }
        }
        return out;
    }

    static Set<Integer> stopTokenIds(JsonNode ids, int vocab) {
        if (ids == null || ids.isNull()) {
            return Set.of();
        }
        if (!ids.isArray()) {
            throw JsonParams.wrongType("stop_token_ids", "an array of token ids", ids);
        }
        Set<Integer> out = new HashSet<>();
        for (int i = 0; i < ids.size(); i++) {
            JsonNode v = ids.get(i);
            if (!v.isIntegralNumber() || v.asLong() < 0 || v.asLong() >= vocab) {
                throw ApiError.invalid("stop_token_ids", "stop_token_ids[" + i + "] = " + v
                        + " is not a token id (valid: 0.." + (vocab - 1) + ")");
            }
            out.add(v.intValue());
        }
        return out;
    }
}
