package dev.dsv2.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.tokenizer.ChatTemplateException;
import dev.dsv2.tokenizer.HfTokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code ./dsv2 tokenize}: a model's Hugging Face tokenizer from the command line.
 *
 * <ul>
 *   <li>{@code --text T}: the ids of HF {@code encode(T, add_special_tokens=False)} (special tokens typed in
 *       the text still match);</li>
 *   <li>{@code --ids 1,2,3}: the decoded text (special tokens kept);</li>
 *   <li>{@code --messages JSON}: an OpenAI-style message list rendered by the chat template with
 *       {@code add_generation_prompt=true}, then encoded (the template writes BOS; none is added).</li>
 * </ul>
 * Output: ids comma-separated or the text, on one line; with {@code --json} exactly
 * {@code {"text":"..","ids":[..]}} on one line (UTF-8, non-ASCII not escaped).
 * Exit codes: 0 success, 1 the tokenizer or the request failed (missing file, id out of range, template
 * error), 2 the command line is invalid (missing/conflicting options, malformed id list or messages JSON).
 */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = {
            "Encode text or a chat, or decode ids, with a model's Hugging Face tokenizer "
                    + "(ids identical to HF tokenizers' encode(text, add_special_tokens=False)).",
            "Prints the ids comma-separated (--text, --messages) or the text (--ids); with --json one line "
                    + "{\"text\":\"..\",\"ids\":[..]}."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            "0:success",
            "1:the tokenizer could not be loaded, an id is out of range, or the chat template failed",
            "2:invalid command line (missing or conflicting options, malformed --ids or --messages)"})
public final class TokenizeCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    private CommandSpec spec;

    @Option(names = "--tokenizer", required = true, paramLabel = "DIR|FILE",
            description = "Model directory with tokenizer.json (and tokenizer_config.json), or the tokenizer.json file.")
    private Path tokenizerPath;

    @ArgGroup(exclusive = true, multiplicity = "1")
    private Input input;

    @Option(names = "--json", description = "Print {\"text\":\"..\",\"ids\":[..]} on one line.")
    private boolean json;

    /** Exactly one of the three inputs. */
    static final class Input {
        @Option(names = "--text", paramLabel = "TEXT", description = "Text to encode.")
        String text;

        @Option(names = "--ids", paramLabel = "ID,ID,...", converter = IdListConverter.class,
                description = "Comma-separated token ids to decode.")
        IdList ids;

        @Option(names = "--messages", paramLabel = "JSON", converter = MessagesConverter.class,
                description = "Chat messages as a JSON array of {\"role\": .., \"content\": ..} objects "
                        + "(tool_calls etc. allowed), rendered with add_generation_prompt=true and encoded.")
        Messages messages;
    }

    /** A parsed {@code --ids} value. */
    record IdList(int[] ids) {
    }

    /** A parsed {@code --messages} value. */
    record Messages(List<Map<String, Object>> list) {
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        HfTokenizer tokenizer;
        try {
            tokenizer = HfTokenizer.load(tokenizerPath);
        } catch (NoSuchFileException e) {
            err.println("error: tokenizer not found: " + e.getFile()
                    + (e.getReason() != null ? " (" + e.getReason() + ")" : ""));
            return 1;
        } catch (IOException e) {
            err.println("error: cannot load the tokenizer from " + tokenizerPath + ": " + e.getMessage());
            return 1;
        }
        String text;
        int[] ids;
        try {
            if (input.ids != null) {
                ids = input.ids.ids();
                text = tokenizer.decode(ids, false);
            } else if (input.messages != null) {
                text = tokenizer.chatTemplate().renderMaps(input.messages.list(), true, Map.of());
                ids = tokenizer.encode(text);
            } else {
                text = input.text;
                ids = tokenizer.encode(text);
            }
        } catch (IllegalArgumentException | ChatTemplateException e) {
            err.println("error: " + e.getMessage());
            return 1;
        }
        if (json) {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("text", text);
            result.put("ids", ids);
            try {
                out.println(JSON.writeValueAsString(result));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("cannot write the JSON result", e);
            }
        } else if (input.ids != null) {
            out.println(text);
        } else {
            out.println(Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(",")));
        }
        out.flush();
        return 0;
    }

    /** {@code "1, 2,3"} to ids; anything that is not a list of non-negative integers is a usage error. */
    static final class IdListConverter implements CommandLine.ITypeConverter<IdList> {
        @Override
        public IdList convert(String value) {
            if (value.isBlank()) {
                return new IdList(new int[0]);
            }
            String[] parts = value.split(",", -1);
            int[] ids = new int[parts.length];
            for (int i = 0; i < parts.length; i++) {
                String part = parts[i].strip();
                try {
                    ids[i] = Integer.parseInt(part);
                } catch (NumberFormatException e) {
                    ids[i] = -1;
                }
                if (ids[i] < 0 || part.startsWith("+")) {
                    throw new CommandLine.TypeConversionException("bad id list '" + value + "': item " + (i + 1)
                            + " '" + part + "' is not a non-negative integer (expected e.g. 1,2,3)");
                }
            }
            return new IdList(ids);
        }
    }

    /** A JSON array of message objects, each with a string {@code role}. */
    static final class MessagesConverter implements CommandLine.ITypeConverter<Messages> {
        @Override
        public Messages convert(String value) {
            JsonNode root;
            try {
                root = JSON.readTree(value);
            } catch (JsonProcessingException e) {
                throw new CommandLine.TypeConversionException("bad messages JSON: " + e.getOriginalMessage());
            }
            if (root == null || !root.isArray()) {
                throw new CommandLine.TypeConversionException("bad messages JSON: expected an array of message "
                        + "objects like [{\"role\": \"user\", \"content\": \"Hi\"}]");
            }
            List<Map<String, Object>> messages = new ArrayList<>();
            for (int i = 0; i < root.size(); i++) {
                JsonNode m = root.get(i);
                if (!m.isObject() || !m.path("role").isTextual()) {
                    throw new CommandLine.TypeConversionException("bad messages JSON: message " + i
                            + " must be an object with a string \"role\", found " + m);
                }
                @SuppressWarnings("unchecked")
                Map<String, Object> map = JSON.convertValue(m, LinkedHashMap.class);
                messages.add(map);
            }
            return new Messages(messages);
        }
    }
}
