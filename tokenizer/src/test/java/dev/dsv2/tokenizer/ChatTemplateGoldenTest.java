package dev.dsv2.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Chat templates render byte-identically to transformers' {@code apply_chat_template}: expected outputs come
 * from real Jinja2 set up as transformers sets it up ({@code src/test/golden/render_chat_goldens.py}), for the
 * DeepSeek-V2-Chat and DeepSeek-V3 templates, a template that raises on unknown roles, and a template that
 * exercises further Jinja2 features (namespace, loop controls, str methods, tojson, whitespace control).
 */
class ChatTemplateGoldenTest {
    private static final JsonNode GOLDEN = TestData.resourceJson("/golden/chat-template-goldens.json");
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void everyGoldenCaseRendersExactlyAsJinja2OrRaisesTheSameMessage() {
        Map<String, Object> specialTokens = JSON.convertValue(GOLDEN.get("special_tokens"), Map.class);
        List<String> failures = new ArrayList<>();
        for (JsonNode c : GOLDEN.get("cases")) {
            String name = c.get("template").asText();
            ChatTemplate template = new ChatTemplate(GOLDEN.get("templates").get(name).asText(), specialTokens);
            List<Map<String, Object>> messages = JSON.convertValue(c.get("messages"), List.class);
            Map<String, Object> extra = JSON.convertValue(c.get("extra"), Map.class);
            boolean addGenerationPrompt = c.get("add_generation_prompt").asBoolean();
            String label = name + " / " + c.get("conversation").asText() + " / add_generation_prompt="
                    + addGenerationPrompt;
            if (c.has("error")) {
                ChatTemplateException e = assertThrows(ChatTemplateException.class,
                        () -> template.renderMaps(messages, addGenerationPrompt, extra), label);
                assertEquals("chat template raised: " + c.get("error").asText(), e.getMessage(), label);
                continue;
            }
            String actual = template.renderMaps(messages, addGenerationPrompt, extra);
            if (!c.get("output").asText().equals(actual)) {
                failures.add(label + "\n" + TestData.firstDifference(c.get("output").asText(), actual));
            }
        }
        assertEquals(List.of(), failures, failures.size() + " renderings differ from Jinja2");
    }

    @Test
    void theGoldenFileCoversBothDeepSeekTemplatesWithAndWithoutTheGenerationPrompt() {
        long v2 = 0;
        long v3 = 0;
        for (JsonNode c : GOLDEN.get("cases")) {
            v2 += c.get("template").asText().equals("deepseek-v2-chat") ? 1 : 0;
            v3 += c.get("template").asText().equals("deepseek-v3") ? 1 : 0;
        }
        assertTrue(v2 >= 10 && v3 >= 20, "v2 " + v2 + ", v3 " + v3);
    }
}
