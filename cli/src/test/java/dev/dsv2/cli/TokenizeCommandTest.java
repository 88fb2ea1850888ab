package dev.dsv2.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.testsupport.SharedTestData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code ./dsv2 tokenize} against DeepSeek-V3's real tokenizer (ids as HF tokenizers gives them). */
class TokenizeCommandTest {
    private static final Path TOKENIZER = SharedTestData.deepSeekV3Tokenizer();

    /** The outcome of one run: exit code, stdout, stderr. */
    private record Run(int exitCode, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = new CommandLine(new TokenizeCommand());
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void textPrintsTheIdsCommaSeparated() {
        Run r = run("--tokenizer", TOKENIZER.toString(), "--text", "Hello, world! The quick brown fox jumps over the lazy dog.");
        assertEquals(0, r.exitCode(), r.err());
        assertEquals("19923,14,2058,3,455,4787,13769,46012,54994,1060,270,41638,6397,16\n", r.out());
    }

    @Test
    void specialTokensTypedInTheTextMatch() {
        Run r = run("--tokenizer", TOKENIZER.resolve("tokenizer.json").toString(), "--text",
                "<｜begin▁of▁sentence｜>User: hi\n\nAssistant: hello<｜end▁of▁sentence｜>");
        assertEquals("0,6756,28,19346,271,88031,28,44388,1\n", r.out());
    }

    @Test
    void idsPrintTheDecodedText() {
        Run r = run("--tokenizer", TOKENIZER.toString(), "--ids", "19923, 14,2058,3");
        assertEquals(0, r.exitCode(), r.err());
        assertEquals("Hello, world!\n", r.out());
    }

    @Test
    void jsonPrintsExactlyTextAndIdsOnOneLine() throws Exception {
        Run r = run("--tokenizer", TOKENIZER.toString(), "--text", "深度 \"求索\" 😀", "--json");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().endsWith("\n") && r.out().indexOf('\n') == r.out().length() - 1, r.out());
        assertTrue(r.out().startsWith("{\"text\":\"深度 \\\"求索\\\" 😀\",\"ids\":["), "no ASCII escaping: " + r.out());
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertEquals(List.of("text", "ids"), names(json));
        assertEquals("深度 \"求索\" 😀", json.get("text").asText());
        Run back = run("--tokenizer", TOKENIZER.toString(), "--ids", join(json.get("ids")), "--json");
        assertEquals(r.out(), back.out(), "decoding the ids gives the same JSON back");
    }

    @Test
    void messagesAreRenderedWithTheGenerationPromptAndEncodedWithOneBos() throws Exception {
        String messages = "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}]";
        Run r = run("--tokenizer", TOKENIZER.toString(), "--messages", messages, "--json");
        assertEquals(0, r.exitCode(), r.err());
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertEquals("<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi<｜Assistant｜>", json.get("text").asText());
        assertEquals(0, json.get("ids").get(0).intValue());
        assertTrue(json.get("ids").get(1).intValue() != 0, "no second BOS");
        Run plain = run("--tokenizer", TOKENIZER.toString(), "--messages", messages);
        assertEquals(join(json.get("ids")) + "\n", plain.out());
    }

    @Test
    void aMissingTokenizerIsExitCodeOneNamingThePath() {
        Run r = run("--tokenizer", "/no/such/dir/tokenizer.json", "--text", "x");
        assertEquals(1, r.exitCode());
        assertTrue(r.err().startsWith("error: tokenizer not found: /no/such/dir/tokenizer.json"), r.err());
        assertEquals("", r.out());
    }

    @Test
    void anIdOutOfRangeIsExitCodeOneNamingTheId() {
        Run r = run("--tokenizer", TOKENIZER.toString(), "--ids", "1,999999");
        assertEquals(1, r.exitCode());
        assertTrue(r.err().contains("token id 999999 is not in the vocabulary"), r.err());
    }

    @Test
    void aMalformedIdListIsAUsageErrorWithExitCodeTwo() {
        Run r = run("--tokenizer", TOKENIZER.toString(), "--ids", "1,x,3");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("bad id list '1,x,3': item 2 'x' is not a non-negative integer"), r.err());
        assertEquals(2, run("--tokenizer", TOKENIZER.toString(), "--ids", "1,-2").exitCode());
    }

    @Test
    void badMessagesJsonIsAUsageErrorWithExitCodeTwo() {
        Run notJson = run("--tokenizer", TOKENIZER.toString(), "--messages", "[{\"role\": ");
        assertEquals(2, notJson.exitCode());
        assertTrue(notJson.err().contains("bad messages JSON"), notJson.err());
        Run noRole = run("--tokenizer", TOKENIZER.toString(), "--messages", "[{\"content\": \"hi\"}]");
        assertEquals(2, noRole.exitCode());
        assertTrue(noRole.err().contains("message 0 must be an object with a string \"role\""), noRole.err());
    }

    @Test
    void exactlyOneInputIsRequired() {
        assertEquals(2, run("--tokenizer", TOKENIZER.toString()).exitCode());
        Run both = run("--tokenizer", TOKENIZER.toString(), "--text", "a", "--ids", "1");
        assertEquals(2, both.exitCode());
        assertTrue(both.err().contains("mutually exclusive"), both.err());
    }

    @Test
    void theLauncherRunsTokenizeAsASubcommand() {
        PrintStream original = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        int code;
        try {
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            code = Main.run("tokenize", "--tokenizer", TOKENIZER.toString(), "--text", "Hello, world!");
        } finally {
            System.setOut(original);
        }
        assertEquals(0, code);
        assertEquals("19923,14,2058,3", captured.toString(StandardCharsets.UTF_8).strip());
    }

    private static List<String> names(JsonNode json) {
        List<String> names = new ArrayList<>();
        json.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static String join(JsonNode ids) {
        List<String> parts = new ArrayList<>();
        ids.forEach(id -> parts.add(id.asText()));
        return String.join(",", parts);
    }
}
