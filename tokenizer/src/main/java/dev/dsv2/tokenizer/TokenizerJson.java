package dev.dsv2.tokenizer;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.NullNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the parts of a Hugging Face {@code tokenizer.json} that encoding and decoding need, and rejects,
 * with a message naming the field, value and what is supported, anything that would change ids in a way
 * this implementation does not reproduce.
 *
 * <p>Supported: the byte-level BPE family (GPT-2, DeepSeek V2/V3, Llama 3, ...):
 * <ul>
 *   <li>{@code normalizer}: none, or an empty {@code Sequence};</li>
 *   <li>{@code pre_tokenizer}: {@code ByteLevel}, or a {@code Sequence} of {@code Split} / {@code Digits}
 *       ending in {@code ByteLevel};</li>
 *   <li>{@code model}: {@code BPE} without dropout, byte fallback or subword prefixes/suffixes
 *       ({@code unk_token}, {@code fuse_unk} and {@code ignore_merges} are honoured);</li>
 *   <li>{@code decoder}: {@code ByteLevel}.</li>
 * </ul>
 * {@code post_processor}, {@code truncation} and {@code padding} do not affect
 * {@code encode(text, add_special_tokens=False)} of one unpadded, untruncated sequence and are ignored.
 */
final class TokenizerJson {
    /** The parsed pipeline. */
    record Parts(AddedVocabulary addedVocabulary, PreTokenizer preTokenizer, BytePairModel model) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String file;

    private TokenizerJson(String file) {
        this.file = file;
    }

    /** Parses a whole {@code tokenizer.json} tree; {@code file} names it in error messages. */
    static Parts parse(JsonNode root, String file) throws TokenizerFormatException {
        if (!root.isObject()) {
            throw new TokenizerJson(file).error("", root, "a JSON object at the top level");
        }
        return new TokenizerJson(file).parse(root, null, null);
    }

    /**
     * Reads a {@code tokenizer.json} file, streaming the two big fields ({@code model.vocab}, ~128k entries,
     * and {@code model.merges}) straight into the model's tables instead of building a JSON tree for them:
     * that halves the load time of a DeepSeek tokenizer.
     */
    static Parts read(Path file) throws IOException {
        TokenizerJson reader = new TokenizerJson(file.toString());
        ObjectNode root = JSON.createObjectNode();
        Map<String, Integer> vocab = null;
        String[][] merges = null;
        try (JsonParser p = JSON.createParser(file.toFile())) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw reader.error("", p.currentToken() == null ? NullNode.getInstance() : p.readValueAsTree(),
                        "a JSON object at the top level");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                if (name.equals("model") && value == JsonToken.START_OBJECT) {
                    ObjectNode model = root.putObject("model");
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String field = p.currentName();
                        JsonToken fieldValue = p.nextToken();
                        if (field.equals("vocab") && fieldValue == JsonToken.START_OBJECT) {
                            vocab = reader.streamVocab(p);
                        } else if (field.equals("merges") && fieldValue == JsonToken.START_ARRAY) {
                            merges = reader.streamMerges(p);
                        } else {
                            model.set(field, p.readValueAsTree());
                        }
                    }
                } else {
                    root.set(name, p.readValueAsTree());
                }
            }
        } catch (JsonProcessingException e) {
            throw new TokenizerFormatException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        return reader.parse(root, vocab, merges);
    }

    /** Builds the parts; {@code vocab}/{@code merges} are the streamed tables, or null to read them from the tree. */
    private Parts parse(JsonNode root, Map<String, Integer> vocab, String[][] merges)
            throws TokenizerFormatException {
        checkNormalizer(root.get("normalizer"));
        checkDecoder(root.get("decoder"));
        PreTokenizer preTokenizer = preTokenizer(root.get("pre_tokenizer"));
        BytePairModel model = model(required(root, "model", "model"), vocab, merges);
        AddedVocabulary added = addedTokens(root.get("added_tokens"));
        return new Parts(added, preTokenizer, model);
    }

    private Map<String, Integer> streamVocab(JsonParser p) throws IOException {
        Map<String, Integer> vocab = new HashMap<>(1 << 18);
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String token = p.currentName();
            if (p.nextToken() != JsonToken.VALUE_NUMBER_INT || p.getIntValue() < 0) {
                throw error("model.vocab[\"" + token + "\"]", p.readValueAsTree(), "a non-negative integer id");
            }
            vocab.put(token, p.getIntValue());
        }
        return vocab;
    }

    private String[][] streamMerges(JsonParser p) throws IOException {
        List<String[]> merges = new ArrayList<>(1 << 17);
        for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
            if (t == JsonToken.VALUE_STRING) {
                merges.add(mergeFromString(merges.size(), p.getText(), null));
            } else {
                merges.add(mergeFromNode(merges.size(), p.readValueAsTree()));
            }
        }
        return merges.toArray(new String[0][]);
    }

    private String[] mergeFromString(int index, String text, JsonNode node) throws TokenizerFormatException {
        String[] parts = text.split(" ", -1);
        if (parts.length != 2) {
            throw error("model.merges[" + index + "]", node != null ? node : JSON.getNodeFactory().textNode(text),
                    "two tokens separated by one space");
        }
        return parts;
    }

    private String[] mergeFromNode(int index, JsonNode m) throws TokenizerFormatException {
        if (m.isTextual()) {
            return mergeFromString(index, m.asText(), m);
        }
        if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) {
            return new String[] {m.get(0).asText(), m.get(1).asText()};
        }
        throw error("model.merges[" + index + "]", m, "a \"left right\" string or a [left, right] pair");
    }

    private void checkNormalizer(JsonNode node) throws TokenizerFormatException {
        if (node == null || node.isNull()) {
            return;
        }
        String type = node.path("type").asText();
        if (type.equals("Sequence") && node.path("normalizers").isArray() && node.get("normalizers").isEmpty()) {
            return;
        }
        throw error("normalizer", node, "no normalizer or an empty Sequence (byte-level BPE tokenizers use none)");
    }

    private void checkDecoder(JsonNode node) throws TokenizerFormatException {
        if (node == null || node.isNull() || !node.path("type").asText().equals("ByteLevel")) {
            throw error("decoder", node == null ? NullNode.getInstance() : node,
                    "a ByteLevel decoder (only byte-level BPE tokenizers are supported)");
        }
    }

    private PreTokenizer preTokenizer(JsonNode node) throws TokenizerFormatException {
        if (node == null || node.isNull()) {
            throw error("pre_tokenizer", NullNode.getInstance(),
                    "ByteLevel or a Sequence ending in ByteLevel");
        }
        String type = node.path("type").asText();
        if (type.equals("ByteLevel")) {
            return byteLevel(node);
        }
        if (!type.equals("Sequence") || !node.path("pretokenizers").isArray()) {
            throw error("pre_tokenizer", node, "ByteLevel or a Sequence ending in ByteLevel");
        }
        JsonNode list = node.get("pretokenizers");
        List<PreTokenizer> stages = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String where = "pre_tokenizer.pretokenizers[" + i + "]";
            JsonNode stage = list.get(i);
            boolean last = i == list.size() - 1;
            String stageType = stage.path("type").asText();
            if (last != stageType.equals("ByteLevel")) {
                throw error(where, stage, last ? "ByteLevel as the last stage"
                        : "Split or Digits (ByteLevel must be the last stage)");
            }
            stages.add(switch (stageType) {
                case "ByteLevel" -> byteLevel(stage);
                case "Split" -> split(stage, where);
                case "Digits" -> new PreTokenizer.Digits(stage.path("individual_digits").asBoolean(false));
                default -> throw error(where, stage, "one of Split, Digits, ByteLevel");
            });
        }
        if (stages.isEmpty()) {
            throw error("pre_tokenizer.pretokenizers", list, "at least a ByteLevel stage");
        }
        return new PreTokenizer.Sequence(List.copyOf(stages));
    }

    private PreTokenizer.ByteLevel byteLevel(JsonNode node) {
        return new PreTokenizer.ByteLevel(node.path("add_prefix_space").asBoolean(true),
                node.path("use_regex").asBoolean(true));
    }

    private PreTokenizer.Split split(JsonNode node, String where) throws TokenizerFormatException {
        JsonNode pattern = required(node, "pattern", where + ".pattern");
        java.util.regex.Pattern compiled;
        boolean matchesNothing = false;
        if (pattern.path("Regex").isTextual()) {
            compiled = OnigurumaRegex.compile(pattern.get("Regex").asText(), file + ": " + where + ".pattern.Regex");
        } else if (pattern.path("String").isTextual()) {
            String literal = pattern.get("String").asText();
            compiled = OnigurumaRegex.literal(literal);
            matchesNothing = literal.isEmpty();
        } else {
            throw error(where + ".pattern", pattern, "{\"Regex\": string} or {\"String\": string}");
        }
        JsonNode behaviorNode = required(node, "behavior", where + ".behavior");
        PreTokenizer.Behavior behavior = switch (behaviorNode.asText()) {
            case "Removed" -> PreTokenizer.Behavior.REMOVED;
            case "Isolated" -> PreTokenizer.Behavior.ISOLATED;
            case "MergedWithPrevious" -> PreTokenizer.Behavior.MERGED_WITH_PREVIOUS;
            case "MergedWithNext" -> PreTokenizer.Behavior.MERGED_WITH_NEXT;
            case "Contiguous" -> PreTokenizer.Behavior.CONTIGUOUS;
            default -> throw error(where + ".behavior", behaviorNode,
                    "one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
        };
        return new PreTokenizer.Split(compiled, matchesNothing, behavior, node.path("invert").asBoolean(false));
    }

    private BytePairModel model(JsonNode node, Map<String, Integer> streamedVocab, String[][] streamedMerges)
            throws TokenizerFormatException {
        String type = node.path("type").asText("BPE"); // older files omit the type of a BPE model
        if (!type.equals("BPE")) {
            throw error("model.type", node.path("type"), "\"BPE\"");
        }
        JsonNode dropout = node.get("dropout");
        if (dropout != null && !dropout.isNull() && dropout.asDouble() != 0.0) {
            throw error("model.dropout", dropout, "null (BPE dropout makes encoding random)");
        }
        if (node.path("byte_fallback").asBoolean(false)) {
            throw error("model.byte_fallback", node.get("byte_fallback"), "false (byte-level BPE needs no fallback)");
        }
        for (String field : List.of("continuing_subword_prefix", "end_of_word_suffix")) {
            JsonNode value = node.get(field);
            if (value != null && !value.isNull() && !value.asText().isEmpty()) {
                throw error("model." + field, value, "null (not used by byte-level BPE)");
            }
        }
        Map<String, Integer> vocab = streamedVocab != null ? streamedVocab : vocabFromTree(node);
        String[][] merges = streamedMerges != null ? streamedMerges : mergesFromTree(node);
        JsonNode unk = node.get("unk_token");
        String unkToken = unk == null || unk.isNull() ? null : unk.asText();
        try {
            return new BytePairModel(vocab, merges, unkToken, node.path("fuse_unk").asBoolean(false),
                    node.path("ignore_merges").asBoolean(false));
        } catch (TokenizerFormatException e) {
            throw new TokenizerFormatException(file + ": " + e.getMessage());
        }
    }

    private Map<String, Integer> vocabFromTree(JsonNode node) throws TokenizerFormatException {
        JsonNode vocabNode = required(node, "vocab", "model.vocab");
        if (!vocabNode.isObject()) {
            throw error("model.vocab", vocabNode, "an object mapping token strings to ids");
        }
        Map<String, Integer> vocab = new HashMap<>(vocabNode.size() * 2);
        for (Map.Entry<String, JsonNode> e : vocabNode.properties()) {
            if (!e.getValue().canConvertToInt() || e.getValue().intValue() < 0) {
                throw error("model.vocab[\"" + e.getKey() + "\"]", e.getValue(), "a non-negative integer id");
            }
            vocab.put(e.getKey(), e.getValue().intValue());
        }
        return vocab;
    }

    private String[][] mergesFromTree(JsonNode node) throws TokenizerFormatException {
        JsonNode mergesNode = required(node, "merges", "model.merges");
        if (!mergesNode.isArray()) {
            throw error("model.merges", mergesNode, "a list of \"left right\" strings or [left, right] pairs");
        }
        String[][] merges = new String[mergesNode.size()][];
        for (int i = 0; i < merges.length; i++) {
            merges[i] = mergeFromNode(i, mergesNode.get(i));
        }
        return merges;
    }

    private AddedVocabulary addedTokens(JsonNode node) throws TokenizerFormatException {
        List<AddedVocabulary.AddedToken> tokens = new ArrayList<>();
        if (node == null || node.isNull()) {
            return new AddedVocabulary(tokens);
        }
        if (!node.isArray()) {
            throw error("added_tokens", node, "a list of added token objects");
        }
        for (int i = 0; i < node.size(); i++) {
            JsonNode t = node.get(i);
            String where = "added_tokens[" + i + "]";
            JsonNode id = required(t, "id", where + ".id");
            JsonNode content = required(t, "content", where + ".content");
            if (!id.canConvertToInt() || id.intValue() < 0) {
                throw error(where + ".id", id, "a non-negative integer");
            }
            if (!content.isTextual()) {
                throw error(where + ".content", content, "a string");
            }
            boolean special = t.path("special").asBoolean(false);
            tokens.add(new AddedVocabulary.AddedToken(id.intValue(), content.asText(), special,
                    t.path("single_word").asBoolean(false), t.path("lstrip").asBoolean(false),
                    t.path("rstrip").asBoolean(false), t.path("normalized").asBoolean(!special)));
        }
        return new AddedVocabulary(tokens);
    }

    private JsonNode required(JsonNode parent, String field, String where) throws TokenizerFormatException {
        JsonNode node = parent.get(field);
        if (node == null || node.isNull()) {
            throw new TokenizerFormatException(file + ": missing field \"" + where + "\"");
        }
        return node;
    }

    private TokenizerFormatException error(String where, JsonNode value, String expected) {
        String field = where.isEmpty() ? "" : " field \"" + where + "\" =";
        return new TokenizerFormatException(file + ":" + field + " " + TokenizerConfig.abbreviate(value)
                + ": expected " + expected);
    }
}
