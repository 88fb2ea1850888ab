package dev.dsv2.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dsv2.testsupport.SharedTestData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The chat template contract, with the expected renderings written out. */
class ChatTemplateTest {
    private static final String BOS = "<｜begin▁of▁sentence｜>";
    private static final String EOS = "<｜end▁of▁sentence｜>";

    private static ChatTemplate deepSeekV2() throws IOException {
        String source = Files.readString(SharedTestData.resolve("deepseek-v2-chat-template.jinja"),
                StandardCharsets.UTF_8);
        return new ChatTemplate(source, Map.of("bos_token", BOS, "eos_token", EOS));
    }

    @Test
    void deepSeekV2RendersTheModelCardExampleWithGenerationPrompt() throws IOException {
        List<ChatMessage> chat = List.of(ChatMessage.system("You are a helpful assistant."),
                ChatMessage.user("Hi! 2+2?"), ChatMessage.assistant("4."), ChatMessage.user("Why?"));
        assertEquals(BOS + "You are a helpful assistant.\n\nUser: Hi! 2+2?\n\nAssistant: 4." + EOS
                + "User: Why?\n\nAssistant:", deepSeekV2().render(chat, true, Map.of()));
        assertEquals(BOS + "You are a helpful assistant.\n\nUser: Hi! 2+2?\n\nAssistant: 4." + EOS
                + "User: Why?\n\n", deepSeekV2().render(chat, false, Map.of()));
    }

    @Test
    void deepSeekV2WithoutSystemMessageStartsWithTheUserTurn() throws IOException {
        assertEquals(BOS + "User: Hello\n\nAssistant:",
                deepSeekV2().render(List.of(ChatMessage.user("Hello")), true, Map.of()));
    }

    @Test
    void messageContentIsDataNeverTemplateCode() throws IOException {
        String content = "{{ 7*7 }} {% if true %}x{% endif %} {# no comment #} {{ bos_token }} {% raise %}";
        assertEquals(BOS + "User: " + content + "\n\nAssistant:",
                deepSeekV2().render(List.of(ChatMessage.user(content)), true, Map.of()));
    }

    @Test
    void deepSeekV3RendersToolCallsAndToolOutputs() {
        ChatTemplate v3 = TestData.deepSeekV3().chatTemplate();
        List<ChatMessage> chat = List.of(
                ChatMessage.user("Weather in Paris?"),
                ChatMessage.assistantToolCalls(List.of(
                        new ChatMessage.ToolCall("call_1", "get_weather", "{\"city\": \"Paris\"}"))),
                ChatMessage.tool("{\"temperature\": 18}", "call_1"),
                ChatMessage.assistant("It is 18°C."));
        assertEquals(BOS + "<｜User｜>Weather in Paris?<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function"
                + "<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>"
                + "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>{\"temperature\": 18}<｜tool▁output▁end｜>"
                + "<｜tool▁outputs▁end｜>It is 18°C." + EOS + "<｜Assistant｜>", v3.render(chat, true, Map.of()));
    }

    @Test
    void anUnknownRoleThatTheTemplateRejectsIsAChatTemplateExceptionWithTheTemplatesMessage() {
        ChatTemplate strict = new ChatTemplate("{% for m in messages %}{% if m['role'] not in ['user', 'assistant'] %}"
                + "{{ raise_exception('Unknown role: ' + m['role']) }}{% endif %}{{ m['content'] }}{% endfor %}", Map.of());
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> strict.render(List.of(ChatMessage.user("hi"), new ChatMessage("moderator", "x")), true, Map.of()));
        assertEquals("chat template raised: Unknown role: moderator", e.getMessage());
    }

    @Test
    void aBrokenTemplateIsAChatTemplateExceptionNamingTheProblem() {
        ChatTemplate broken = new ChatTemplate("{{ messages[0]['content'] | no_such_filter(1 }}", Map.of());
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> broken.render(List.of(ChatMessage.user("hi")), true, Map.of()));
        assertTrue(e.getMessage().startsWith("chat template error at line 1: "), e.getMessage());
    }

    @Test
    void extraVariablesReachTheTemplate() {
        ChatTemplate t = new ChatTemplate("{{ greeting }}, {{ messages[0]['content'] }}{% if tools %} "
                + "{{ tools | tojson }}{% endif %}", Map.of());
        assertEquals("Hello, you [{\"name\": \"f\"}]", t.render(List.of(ChatMessage.user("you")), false,
                Map.of("greeting", "Hello", "tools", List.of(Map.of("name", "f")))));
    }

    @Test
    void strftimeNowFormatsTheCurrentDateWithPythonDirectives() {
        ChatTemplate t = new ChatTemplate("{{ strftime_now('%Y') }}", Map.of());
        assertEquals(String.valueOf(java.time.Year.now().getValue()), t.render(List.of(), false, Map.of()));
    }

    @Test
    void encodeChatDoesNotAddASecondBosWhenTheTemplateWritesOne() {
        HfTokenizer tokenizer = TestData.deepSeekV3();
        int[] ids = tokenizer.encodeChat(List.of(ChatMessage.user("Hi")), true);
        assertEquals(0, ids[0], "starts with <｜begin▁of▁sentence｜>");
        assertEquals(1, Arrays.stream(ids).filter(id -> id == 0).count(), Arrays.toString(ids));
        assertEquals("<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>", tokenizer.decode(ids, false));
        assertEquals("[0, 128803, 23166, 128804]", Arrays.toString(ids)); // ids from HF tokenizers
    }

    @Test
    void encodeChatMapsAcceptsTheOpenAiJsonShape() {
        HfTokenizer tokenizer = TestData.deepSeekV3();
        List<Map<String, Object>> chat = List.of(Map.of("role", "system", "content", "Be brief."),
                Map.of("role", "user", "content", "Hi"));
        assertEquals(tokenizer.encode("<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi<｜Assistant｜>").length,
                tokenizer.encodeChatMaps(chat, true).length);
        assertEquals(Arrays.toString(tokenizer.encode("<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi<｜Assistant｜>")),
                Arrays.toString(tokenizer.encodeChatMaps(chat, true)));
    }

    @Test
    void templateSourceEndingInANewlineLosesThatOneNewlineAsInJinja2() {
        assertEquals("a\n", new ChatTemplate("a\n\n", Map.of()).render(List.of(), false, Map.of()));
        assertEquals("x\n\n", new ChatTemplate("{{ 'x\\n\\n' }}\r\n", Map.of()).render(List.of(), false, Map.of()));
    }

    @Test
    void chatMessageToMapHasTheOpenAiFieldNames() {
        ChatMessage call = ChatMessage.assistantToolCalls(List.of(new ChatMessage.ToolCall("c1", "f", "{}")));
        assertEquals("{role=assistant, content=null, tool_calls=[{id=c1, type=function, function={name=f, arguments={}}}]}",
                call.toMap().toString());
        assertEquals("{role=tool, content=ok, tool_call_id=c1}", ChatMessage.tool("ok", "c1").toMap().toString());
    }
}
