package dev.dsv2.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Optional;

/**
 * What a model's {@code tokenizer_config.json} adds to {@code tokenizer.json}: the names of its special tokens,
 * whether a prompt starts with BOS ({@code add_bos_token}), and the Jinja {@code chat_template}.
 *
 * <p>Token fields may be a plain string or an {@code {"__type": "AddedToken", "content": ...}} object, as
 * transformers writes them. {@code chat_template} may be a string or a list of {@code {"name", "template"}}
 * entries, of which the one named {@code "default"} is used. A {@code chat_template.jinja} file next to the
 * config (transformers' newer layout) takes precedence over the field; {@link HfTokenizer#load} reads it.
 *
 * @param bosToken     e.g. {@code <｜begin▁of▁sentence｜>}
 * @param eosToken     e.g. {@code <｜end▁of▁sentence｜>}
 * @param padToken     the padding token, often equal to EOS
 * @param unkToken     the unknown token (DeepSeek's byte-level tokenizers have none)
 * @param addBosToken  whether transformers prepends BOS when encoding a prompt with special tokens
 * @param addEosToken  whether transformers appends EOS when encoding with special tokens
 * @param chatTemplate the Jinja source of the chat template
 */
public record TokenizerConfig(Optional<String> bosToken, Optional<String> eosToken, Optional<String> padToken,
                              Optional<String> unkToken, boolean addBosToken, boolean addEosToken,
                              Optional<String> chatTemplate) {

    /** The configuration of a tokenizer that comes without {@code tokenizer_config.json}. */
    public static final TokenizerConfig NONE = new TokenizerConfig(Optional.empty(), Optional.empty(),
            Optional.empty(), Optional.empty(), false, false, Optional.empty());

    /** Parses the JSON of a {@code tokenizer_config.json}; {@code file} names it in error messages. */
    static TokenizerConfig parse(JsonNode root, String file) throws TokenizerFormatException {
        if (!root.isObject()) {
            throw new TokenizerFormatException(file + ": expected a JSON object at the top level, found "
                    + root.getNodeType());
        }
        return new TokenizerConfig(token(root, "bos_token", file), token(root, "eos_token", file),
                token(root, "pad_token", file), token(root, "unk_token", file),
                bool(root, "add_bos_token", file), bool(root, "add_eos_token", file), chatTemplate(root, file));
    }

    /** This configuration with another chat template (from a {@code chat_template.jinja} file). */
    TokenizerConfig withChatTemplate(String template) {
        return new TokenizerConfig(bosToken, eosToken, padToken, unkToken, addBosToken, addEosToken,
                Optional.of(template));
    }

    private static Optional<String> token(JsonNode root, String field, String file)
            throws TokenizerFormatException {
        JsonNode node = root.get(field);
        if (node == null || node.isNull()) {
            return Optional.empty();
        }
        if (node.isTextual()) {
            return Optional.of(node.asText());
        }
        if (node.isObject() && node.path("content").isTextual()) {
            return Optional.of(node.get("content").asText());
        }
        throw new TokenizerFormatException(file + ": field \"" + field + "\" = " + abbreviate(node)
                + ": expected a string, an object with a string \"content\", or null");
    }

    private static boolean bool(JsonNode root, String field, String file) throws TokenizerFormatException {
        JsonNode node = root.get(field);
        if (node == null || node.isNull()) {
            return false;
        }
        if (!node.isBoolean()) {
            throw new TokenizerFormatException(file + ": field \"" + field + "\" = " + abbreviate(node)
                    + ": expected true or false");
        }
        return node.booleanValue();
    }

    private static Optional<String> chatTemplate(JsonNode root, String file) throws TokenizerFormatException {
        JsonNode node = root.get("chat_template");
        if (node == null || node.isNull()) {
            return Optional.empty();
        }
        if (node.isTextual()) {
            return Optional.of(node.asText());
        }
        if (node.isArray()) {
            for (JsonNode entry : node) {
                if ("default".equals(entry.path("name").asText()) && entry.path("template").isTextual()) {
                    return Optional.of(entry.get("template").asText());
                }
            }
            return Optional.empty();
        }
        throw new TokenizerFormatException(file + ": field \"chat_template\" = " + abbreviate(node)
                + ": expected a string or a list of {\"name\", \"template\"} objects");
    }

    static String abbreviate(JsonNode node) {
        String s = node.toString();
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
