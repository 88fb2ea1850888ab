package dev.dsv2.gateway.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.testsupport.SharedTestData;
import dev.dsv2.tokenizer.HfTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The gateway's part of the start-up warm-up: the tokenizer's first use, which never fails a start. */
class TokenizerWarmupTest {
    @Test
    void aRefusingChatTemplateDoesNotFailTheWarmUp(@TempDir Path dir) throws Exception {
        assertDoesNotThrow(() -> ModelHost.warmUp(HfTokenizer.load(SharedTestData.deepSeekV3Tokenizer())));

        // A template that refuses every conversation: the warm-up leaves it to the requests to report.
        Path src = SharedTestData.deepSeekV3Tokenizer();
        Files.copy(src.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(src.resolve("tokenizer_config.json").toFile());
        config.put("chat_template", "{{ raise_exception('this template takes no conversation') }}");
        json.writeValue(dir.resolve("tokenizer_config.json").toFile(), config);
        HfTokenizer refusing = HfTokenizer.load(dir);
        assertThrows(RuntimeException.class, () -> refusing.encodeChatMaps(List.of(Map.of("role", "user",
                "content", "Hello!")), true), "the template does refuse");
        assertDoesNotThrow(() -> ModelHost.warmUp(refusing));
    }
}
