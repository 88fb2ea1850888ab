package dev.dsv2.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.gateway.router.EmbeddedRouter;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** The HTTP API on the wire, with a plain HTTP client: SSE framing, error bodies, and client disconnects. */
@QuarkusTest
class SseWireTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    ModelHost host;

    @TestHTTPResource("/")
    URL root;

    ServedModel model;
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    @BeforeEach
    void ready() {
        model = ServedModelSupport.await(host);
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(root + path.substring(1)))
                .header("content-type", "application/json").timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void streamIsDataEventsThenDone() throws Exception {
        HttpResponse<String> r = post("/v1/chat/completions", """
                {"model": "%s", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4,
                 "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}
                """.formatted(model.name()));
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("content-type").orElseThrow().startsWith("text/event-stream"));
        String[] events = r.body().split("\n\n");
        assertEquals("data: [DONE]", events[events.length - 1]);
        List<JsonNode> chunks = new ArrayList<>();
        for (int i = 0; i < events.length - 1; i++) {
            assertTrue(events[i].startsWith("data: {"), events[i]);
            chunks.add(JSON.readTree(events[i].substring("data: ".length())));
        }
        JsonNode first = chunks.getFirst();
        assertEquals("chat.completion.chunk", first.get("object").asText());
        assertTrue(first.get("id").asText().startsWith("chatcmpl-"));
        assertEquals("assistant", first.at("/choices/0/delta/role").asText());
        assertTrue(first.has("usage") && first.get("usage").isNull(), "usage: null on every chunk but the last");
        JsonNode finish = chunks.get(chunks.size() - 2);
        assertEquals("length", finish.at("/choices/0/finish_reason").asText());
        JsonNode usage = chunks.getLast();
        assertEquals(0, usage.get("choices").size());
        assertEquals(4, usage.at("/usage/completion_tokens").asInt());
        for (JsonNode c : chunks) {
            assertEquals(first.get("id"), c.get("id"), "one id for the whole stream");
        }
    }

    @Test
    void errorsUseOpenAisShapeAndAreNeverStreamed() throws Exception {
        HttpResponse<String> r = post("/v1/completions", """
                {"model": "%s", "prompt": "Hi", "stream": true, "temperature": "hot"}""".formatted(model.name()));
        assertEquals(400, r.statusCode());
        assertTrue(r.headers().firstValue("content-type").orElseThrow().startsWith("application/json"));
        JsonNode error = JSON.readTree(r.body()).get("error");
        assertEquals("temperature", error.get("param").asText());
        assertEquals("invalid_request_error", error.get("type").asText());
        assertTrue(error.get("message").asText().contains("expected a number"), error.toString());
        assertTrue(error.has("code"));

        r = post("/v1/chat/completions", "{not json");
        assertEquals(400, r.statusCode());
        assertTrue(JSON.readTree(r.body()).at("/error/message").asText().contains("JSON"));

        r = post("/v1/chat/completions", "{\"model\": \"%s\", \"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}]}"
                .formatted(model.name()));
        assertEquals(400, r.statusCode());
        assertEquals("messages[0].role", JSON.readTree(r.body()).at("/error/param").asText());

        r = post("/v1/embeddings", "{}");
        assertEquals(404, r.statusCode());
        assertTrue(JSON.readTree(r.body()).at("/error/message").asText().contains("/v1/embeddings"));
    }

    /** Sends a request on a raw socket, reads until {@code marker} shows up, then drops the connection. */
    private void disconnectAfter(String body, String marker) throws Exception {
        EmbeddedRouter router = ServedModelSupport.embedded(host);
        try (Socket socket = new Socket(root.getHost(), root.getPort())) {
            byte[] payload = body.getBytes(StandardCharsets.UTF_8);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + payload.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(payload);
            out.flush();
            if (marker == null) {
                long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
                while (router.stats().running() == 0 || router.cache().usedBlocks() == 0) {
                    if (System.nanoTime() > deadline) {
                        fail("the request never started running");
                    }
                    Thread.sleep(5);
                }
            } else {
                BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
                        StandardCharsets.UTF_8));
                String line;
                while ((line = in.readLine()) != null && !line.contains(marker)) {
                    // skip headers and early events
                }
                assertTrue(router.cache().usedBlocks() > 0, "the sequence holds cache blocks while it streams");
            }
        }
        ServedModelSupport.awaitCacheEmpty(host);
    }

    @Test
    void clientDisconnectMidStreamCancelsGenerationAndFreesTheCache() throws Exception {
        disconnectAfter("""
                {"model": "%s", "messages": [{"role": "user", "content": "Talk"}], "max_tokens": 4000,
                 "temperature": 0, "stream": true}""".formatted(model.name()), "\"content\"");
    }

    @Test
    void clientDisconnectDuringANonStreamingRequestFreesTheCache() throws Exception {
        disconnectAfter("""
                {"model": "%s", "messages": [{"role": "user", "content": "Talk"}], "max_tokens": 4000,
                 "temperature": 0}""".formatted(model.name()), null);
    }
}
