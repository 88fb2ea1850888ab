package dev.dsv2.gateway.core;

import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.tokenizer.ChatMessage;
import dev.dsv2.tokenizer.ChatTemplateException;

import java.util.List;
import java.util.OptionalInt;

/**
 * Tokenization at the edge and the context-limit rules, shared by the gRPC and OpenAI APIs. Every refusal is an
 * {@link ApiError} naming the request field ({@code param}) the caller passes in, so each API reports its own names.
 *
 * <ul>
 *   <li>Text prompts get BOS first when {@code tokenizer_config.json} says {@code add_bos_token} (transformers'
 *       {@code encode(text)}).</li>
 *   <li>Chat messages are rendered with the model's chat template, {@code add_generation_prompt = true}, and encoded
 *       without another BOS (the template writes it).</li>
 *   <li>Prompt ids are taken as given, each checked against the model's vocabulary.</li>
 *   <li>A prompt of {@code contextLimit} tokens or more is refused ({@code context_length_exceeded}), as is an
 *       explicit {@code max_tokens} that would run past the limit; a default {@code max_tokens} is clamped to the room
 *       left (and to the KV cache's capacity when the router reports it).</li>
 * </ul>
 */
public final class Prompts {
    /** The chat roles both APIs accept ({@code developer} is rendered as {@code system}). */
    public static final java.util.Set<String> ROLES = java.util.Set.of("system", "developer", "user", "assistant",
            "tool");

    private Prompts() {
    }

    /**
     * Checks a chat message's role ({@code at} names the message, e.g. {@code messages[2]}) and returns the role the
     * template gets.
     */
    public static String role(String role, String at) {
        if (role == null || role.isEmpty()) {
            throw ApiError.invalid(at + ".role", at + ".role is required (one of system, developer, user, "
                    + "assistant, tool)");
        }
        if (!ROLES.contains(role)) {
            throw ApiError.invalid(at + ".role", at + ".role \"" + clip(role) + "\" is not one of system, "
                    + "developer, user, assistant, tool");
        }
        return role.equals("developer") ? "system" : role;
    }

    /** At most 100 characters of a client's value, for an error message (a 1 MB value is not echoed back). */
    public static String clip(String s) {
        return s.length() <= 100 ? s : s.substring(0, 100) + "... (" + s.length() + " characters)";
    }

    public static int[] encodeText(ServedModel model, String text, String param) {
        if (text.isEmpty() && !model.tokenizer().addBosToken()) {
            throw ApiError.invalid(param, param + " must not be empty");
        }
        PromptBound.check(model, PromptBound.utf8Length(text), param);
        int[] ids = model.tokenizer().encodePrompt(text);
        if (ids.length == 0) {
            throw ApiError.invalid(param, param + " must not be empty");
        }
        return ids;
    }

    public static int[] encodeChat(ServedModel model, List<ChatMessage> messages, String param) {
        if (messages.isEmpty()) {
            throw ApiError.invalid(param, param + " must hold at least one message");
        }
        if (!model.tokenizer().hasChatTemplate()) {
            throw ApiError.invalid(param, "model " + model.name() + " has no chat template (tokenizer_config.json "
                    + "\"chat_template\"); send a plain prompt instead");
        }
        long bytes = 0;
        for (ChatMessage m : messages) {
            bytes += m.content() == null ? 0 : PromptBound.utf8Length(m.content());
        }
        PromptBound.check(model, bytes, param);
        try {
            return model.tokenizer().encodeChat(messages, true);
        } catch (ChatTemplateException e) {
            throw ApiError.invalid(param, "the chat template rejected " + param + ": " + e.getMessage());
        }
    }

    /** The chat template's rendering, for Tokenize's {@code text}. */
    public static String renderChat(ServedModel model, List<ChatMessage> messages, String param) {
        if (!model.tokenizer().hasChatTemplate()) {
            throw ApiError.invalid(param, "model " + model.name() + " has no chat template");
        }
        try {
            return model.tokenizer().chatTemplate().render(messages, true, java.util.Map.of());
        } catch (ChatTemplateException e) {
            throw ApiError.invalid(param, "the chat template rejected " + param + ": " + e.getMessage());
        }
    }

    /** Checks client-given prompt ids against the model's vocabulary. */
    public static int[] checkIds(ServedModel model, int[] ids, String param) {
        if (ids.length == 0) {
            throw ApiError.invalid(param, param + " must hold at least one token id");
        }
        int vocab = model.vocabSize();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw ApiError.invalid(param, param + "[" + i + "] = " + ids[i] + " is not a token id of model "
                        + model.name() + " (valid: 0.." + (vocab - 1) + ")");
            }
        }
        return ids;
    }

    /**
     * The completion budget of one prompt.
     *
     * @param requested      the client's max_tokens, if given
     * @param defaultMax     the API's default ({@link Integer#MAX_VALUE}: the rest of the context)
     * @param cacheTokens    the router's KV cache capacity in tokens, 0 when unknown
     * @param promptParam    the request field holding the prompt, for errors
     * @param maxTokensParam the request field holding max_tokens, for errors
     */
    public static int maxTokens(int promptTokens, OptionalInt requested, int defaultMax, int contextLimit,
                                long cacheTokens, String promptParam, String maxTokensParam) {
        if (promptTokens >= contextLimit) {
            throw new ApiError(ApiError.Kind.INVALID_ARGUMENT, promptParam, ApiError.CONTEXT_LENGTH_EXCEEDED,
                    "the prompt is " + promptTokens + " tokens long, but the context limit is " + contextLimit
                            + " tokens (prompt + completion, with at least 1 completion token); shorten "
                            + promptParam);
        }
        if (requested.isPresent()) {
            int max = requested.getAsInt();
            if (max < 1) {
                throw ApiError.invalid(maxTokensParam, maxTokensParam + " must be >= 1, got " + max);
            }
            if ((long) promptTokens + max > contextLimit) {
                throw new ApiError(ApiError.Kind.INVALID_ARGUMENT, maxTokensParam, ApiError.CONTEXT_LENGTH_EXCEEDED,
                        "This model's maximum context length is " + contextLimit + " tokens. However, you requested "
                                + ((long) promptTokens + max) + " tokens (" + promptTokens + " in the prompt, " + max
                                + " for the completion). Please reduce the prompt or " + maxTokensParam + ".");
            }
            return max;
        }
        long room = contextLimit - promptTokens;
        if (cacheTokens > 0) {
            room = Math.min(room, cacheTokens - promptTokens);
            if (room < 1) {
                throw new ApiError(ApiError.Kind.INVALID_ARGUMENT, promptParam, ApiError.CONTEXT_LENGTH_EXCEEDED,
                        "the prompt is " + promptTokens + " tokens long, more than the server's whole KV cache ("
                                + cacheTokens + " tokens) can hold with a completion; shorten " + promptParam);
            }
        }
        return (int) Math.min(defaultMax, room);
    }
}
