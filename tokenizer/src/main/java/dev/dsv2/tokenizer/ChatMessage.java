package dev.dsv2.tokenizer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One chat message as chat templates see it (the OpenAI chat format): {@code role}, {@code content} (null for
 * an assistant turn that only calls tools), {@code tool_calls}, plus any other fields ({@code name},
 * {@code tool_call_id}, ...) in {@code extra}.
 *
 * <p>{@link #toMap()} gives the dict the template indexes: {@code message['role']}, {@code message['content']},
 * {@code message['tool_calls'][i]['function']['arguments']}, {@code message['tool_call_id']}.
 *
 * @param role      {@code system}, {@code user}, {@code assistant}, {@code tool}, ... (not validated here: the
 *                  template decides which roles it accepts)
 * @param content   the text, or null
 * @param toolCalls the tool calls of an assistant turn, in order (empty for other turns)
 * @param extra     further fields, copied as they are into {@link #toMap()}
 */
public record ChatMessage(String role, String content, List<ToolCall> toolCalls, Map<String, Object> extra) {

    /**
     * A tool call of an assistant turn: {@code {"id": id, "type": "function", "function": {"name": name,
     * "arguments": arguments}}}, {@code arguments} being the JSON text of the arguments.
     *
     * @param id may be null (then the map has no {@code id})
     */
    public record ToolCall(String id, String name, String arguments) {
        public ToolCall {
            Objects.requireNonNull(name, "tool call name");
            Objects.requireNonNull(arguments, "tool call arguments");
        }

        public Map<String, Object> toMap() {
            Map<String, Object> function = new LinkedHashMap<>();
            function.put("name", name);
            function.put("arguments", arguments);
            Map<String, Object> map = new LinkedHashMap<>();
            if (id != null) {
                map.put("id", id);
            }
            map.put("type", "function");
            map.put("function", function);
            return map;
        }
    }

    public ChatMessage {
        Objects.requireNonNull(role, "role");
        toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
        extra = extra == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(extra));
    }

    public ChatMessage(String role, String content) {
        this(role, content, List.of(), Map.of());
    }

    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }

    /** An assistant turn that calls tools and has no text ({@code content} is null). */
    public static ChatMessage assistantToolCalls(List<ToolCall> toolCalls) {
        return new ChatMessage("assistant", null, toolCalls, Map.of());
    }

    /** A tool result; {@code toolCallId} (may be null) is the id of the call it answers. */
    public static ChatMessage tool(String content, String toolCallId) {
        Map<String, Object> extra = new LinkedHashMap<>();
        if (toolCallId != null) {
            extra.put("tool_call_id", toolCallId);
        }
        return new ChatMessage("tool", content, List.of(), extra);
    }

    /** The message as the template's dict (a fresh mutable map). */
    public Map<String, Object> toMap() {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("role", role);
        map.put("content", content);
        if (!toolCalls.isEmpty()) {
            List<Object> calls = new ArrayList<>();
            toolCalls.forEach(c -> calls.add(c.toMap()));
            map.put("tool_calls", calls);
        }
        map.putAll(extra);
        return map;
    }
}
