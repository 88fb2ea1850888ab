package dev.dsv2.gateway.openai;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.core.GenerationService;
import dev.dsv2.gateway.core.InFlightLimit;
import dev.dsv2.gateway.core.ServingObserver;
import dev.dsv2.gateway.model.GatewaySettings;
import dev.dsv2.gateway.model.ModelHost;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Before the model is ready the API answers 503 (loading) and releases its permits; a failed load says why. */
class ModelLoadingTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void whileLoadingEveryEndpointAnswers503ModelLoading() throws Exception {
        ModelHost host = new ModelHost(GatewaySettings.defaults(Path.of("target/unused")));
        InFlightLimit limit = new InFlightLimit("interactive", 1);
        OpenAiApi api = new OpenAiApi(new GenerationService(host, ServingObserver.NONE), limit);

        OpenAiResponse models = api.models();
        assertEquals(503, models.status());
        assertEquals("model_loading", models.body().at("/error/code").asText());
        assertEquals("service_unavailable_error", models.body().at("/error/type").asText());

        OpenAiResponse chat = api.chatCompletions(JSON.readTree("""
                {"model": "m", "messages": [{"role": "user", "content": "hi"}]}""")).toCompletableFuture().get();
        assertEquals(503, chat.status());
        assertTrue(chat.body().at("/error/message").asText().contains("the model is loading"),
                chat.body().toString());
        assertEquals(1, limit.tryAcquire().map(p -> 1).orElse(0), "the refused request released its permit");
    }

    @Test
    void aFailedLoadIsReportedWithItsCause() {
        ModelHost host = new ModelHost(GatewaySettings.defaults(Path.of("target/unused"))
                .withModelDir(Path.of("target/no-such-model")));
        host.load();
        assertEquals(ModelHost.State.FAILED, host.state());
        ApiError e = assertThrows(ApiError.class, host::served);
        assertEquals(ApiError.Kind.UNAVAILABLE, e.kind());
        assertTrue(e.getMessage().contains("failed to load") && e.getMessage().contains("no-such-model"),
                e.getMessage());
        assertFalse(host.ifReady().isPresent());
    }
}
