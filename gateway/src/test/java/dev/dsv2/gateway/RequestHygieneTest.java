package dev.dsv2.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.proto.v1.ChatMessage;
import dev.dsv2.proto.v1.ChatMessages;
import dev.dsv2.proto.v1.GenerateChunk;
import dev.dsv2.proto.v1.GenerateRequest;
import dev.dsv2.proto.v1.InferenceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
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
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The hostile-but-realistic inputs of issue 15, each answered cheaply and precisely: oversized bodies and prompts
 * before any tokenization, requests that can never be admitted as 400 (not a retryable 429), the small validation
 * gaps of the OpenAI parser (item 7), gRPC roles and duplicate ids (item 6), and clients that leave or stall.
 */
@QuarkusTest
class RequestHygieneTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newHttpClient();

    @Inject
    ModelHost host;

    @TestHTTPResource("/")
    URL root;

    @ConfigProperty(name = "quarkus.grpc.server.test-port")
    int grpcPort;

    ServedModel model;
    ManagedChannel channel;

    @BeforeEach
    void ready() {
        model = ServedModelSupport.await(host);
        channel = ManagedChannelBuilder.forAddress("localhost", grpcPort).usePlaintext().build();
    }

    @AfterEach
    void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    HttpResponse<String> post(String path, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(root + path.substring(1)))
                .header("content-type", "application/json").timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode error(HttpResponse<String> r) throws Exception {
        return JSON.readTree(r.body()).get("error");
    }

    /** Raw HTTP/1.1: the request head (and part of a body), then whatever the server answers until it closes. */
    String raw(String head, byte[] partialBody, Duration readFor) throws Exception {
        try (Socket socket = new Socket(root.getHost(), root.getPort())) {
            socket.setSoTimeout((int) readFor.toMillis());
            OutputStream out = socket.getOutputStream();
            out.write(head.getBytes(StandardCharsets.US_ASCII));
            out.write(partialBody);
            out.flush();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            InputStream in = socket.getInputStream();
            byte[] buf = new byte[8192];
            try {
                for (int n; (n = in.read(buf)) > 0; ) {
                    got.write(buf, 0, n);
                }
            } catch (java.net.SocketTimeoutException | java.net.SocketException e) {
                // what arrived so far is the answer
            }
            return got.toString(StandardCharsets.UTF_8);
        }
    }

    @Test
    void aBodyOverTheLimitIs413InOpenAisErrorShape() throws Exception {
        String answer = raw("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                + "Content-Length: 50000000\r\n\r\n", "{\"model\":".getBytes(StandardCharsets.US_ASCII),
                Duration.ofSeconds(10));
        assertTrue(answer.startsWith("HTTP/1.1 413"), answer);
        JsonNode body = JSON.readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4));
        assertEquals("request_too_large", body.at("/error/code").asText());
        assertEquals("invalid_request_error", body.at("/error/type").asText());
    }

    @Test
    void aPromptTooLongInBytesIsRefusedBeforeItIsTokenized() throws Exception {
        int longest = 1;
        for (int id = 0; id < model.tokenizer().vocabSize(); id++) {
            longest = Math.max(longest, model.tokenizer().tokenText(id).getBytes(StandardCharsets.UTF_8).length);
        }
        String prompt = "a".repeat(model.contextLimit() * longest + 1);
        HttpResponse<String> r = post("/v1/completions", "{\"model\":\"%s\",\"prompt\":\"%s\",\"max_tokens\":1}"
                .formatted(model.name(), prompt));
        assertEquals(400, r.statusCode(), r.body());
        assertEquals("context_length_exceeded", error(r).get("code").asText());
        assertTrue(error(r).get("message").asText().contains(prompt.length() + " bytes long"),
                "refused by the byte count, not after tokenizing: " + error(r).get("message"));
    }

    @Test
    void aRequestThatCanNeverBeAdmittedIs400NotARetryable429() throws Exception {
        List<String> prompts = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            prompts.add("prompt " + i);
        }
        HttpResponse<String> r = post("/v1/completions", "{\"model\":\"%s\",\"prompt\":%s,\"n\":128,\"max_tokens\":4}"
                .formatted(model.name(), JSON.writeValueAsString(prompts)));
        assertEquals(400, r.statusCode(), r.body());
        assertEquals("request_too_large", error(r).get("code").asText());
        assertTrue(error(r).get("message").asText().contains("12800 sequences"), r.body());
    }

    @Test
    void theSmallValidationGapsOfTheOpenAiParserAreClosed() throws Exception {
        HttpResponse<String> r = post("/v1/completions", "{\"model\":\"%s\",\"prompt\":\"x\",\"max_tokens\":2147483648}"
                .formatted(model.name()));
        assertEquals(400, r.statusCode());
        assertEquals("max_tokens must be in [1, 2147483647], got 2147483648", error(r).get("message").asText());

        r = post("/v1/completions", "{\"model\":\"%s\",\"prompt\":\"x\",\"seed\":123456789012345678901234567890}"
                .formatted(model.name()));
        assertEquals(400, r.statusCode());
        assertEquals("seed", error(r).get("param").asText());
        assertTrue(error(r).get("message").asText().contains("does not fit a 64-bit integer"), r.body());

        r = post("/v1/chat/completions", "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}"
                .formatted(model.name()));
        assertEquals(400, r.statusCode());
        assertEquals("messages[0].content[0].text is required (a string) in a text content part",
                error(r).get("message").asText());

        String huge = "m".repeat(1 << 20);
        r = post("/v1/completions", "{\"model\":\"%s\",\"prompt\":\"x\"}".formatted(huge));
        assertEquals(404, r.statusCode());
        assertTrue(r.body().length() < 2_000, "the 1 MB model name is not echoed back: " + r.body().length());

        r = post("/v1/completions", "{\"model\":\"%s\",\"prompt\":[[1,2],\"x\"],\"max_tokens\":1}"
                .formatted(model.name()));
        assertEquals(400, r.statusCode());
        assertTrue(error(r).get("message").asText().startsWith("prompt mixes strings and token id arrays"), r.body());

        r = post("/v1/completions", "{\"model\":\"%s\",\"prompt\":\"x\",\"max_tokens\":1} trailing garbage"
                .formatted(model.name()));
        assertEquals(400, r.statusCode());
        assertTrue(error(r).get("message").asText().contains("could not parse the JSON body"), r.body());
    }

    @Test
    void modelsRetrieveWorksForTheServedModelOnly() throws Exception {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(root + "v1/models/" + model.name()))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode());
        assertEquals(model.name(), JSON.readTree(r.body()).get("id").asText());
        assertEquals("model", JSON.readTree(r.body()).get("object").asText());
        r = HTTP.send(HttpRequest.newBuilder(URI.create(root + "v1/models/other")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(404, r.statusCode());
        assertEquals("model_not_found", error(r).get("code").asText());
    }

    @Test
    void grpcRefusesAnUnknownRoleAndADuplicateIdBeforeAnyChunk() throws Exception {
        InferenceGrpc.InferenceBlockingStub stub = InferenceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(60, TimeUnit.SECONDS);
        StatusRuntimeException role = assertThrows(StatusRuntimeException.class, () -> stub.generate(
                GenerateRequest.newBuilder().setMessages(ChatMessages.newBuilder().addMessages(ChatMessage.newBuilder()
                        .setRole("bogus").setContent("hello"))).build()).next());
        assertEquals(Status.Code.INVALID_ARGUMENT, role.getStatus().getCode());
        assertTrue(role.getStatus().getDescription().contains("messages[0].role \"bogus\""),
                role.getStatus().getDescription());

        Iterator<GenerateChunk> first = stub.generate(GenerateRequest.newBuilder().setRequestId("dup-1")
                .setPrompt("Count forever").setMaxTokens(4000).setTemperature(0).build());
        first.next();
        first.next(); // running
        Iterator<GenerateChunk> second = stub.generate(GenerateRequest.newBuilder().setRequestId("dup-1")
                .setPrompt("Hi").setMaxTokens(2).build());
        StatusRuntimeException dup = assertThrows(StatusRuntimeException.class, second::next,
                "the duplicate is refused before a first chunk is sent");
        assertEquals(Status.Code.INVALID_ARGUMENT, dup.getStatus().getCode());
        assertTrue(InferenceGrpc.newBlockingStub(channel).abort(dev.dsv2.proto.v1.AbortRequest.newBuilder()
                .setRequestId("dup-1").build()).getFound());
        first.forEachRemaining(c -> { });
        ServedModelSupport.awaitCacheEmpty(host);
    }

    @Test
    void aStalledBodyGets408AndAClientThatLeavesLogsNoError() throws Exception {
        List<LogRecord> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord record) {
                if (record.getLevel().intValue() >= Level.SEVERE.intValue()) {
                    errors.add(record);
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        Logger rootLogger = Logger.getLogger("");
        rootLogger.addHandler(capture);
        try {
            String head = "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 100\r\n\r\n";
            String answer = raw(head, "{\"model\":".getBytes(StandardCharsets.US_ASCII), Duration.ofSeconds(15));
            assertTrue(answer.startsWith("HTTP/1.1 408"), "a stalled body is answered within the body timeout: "
                    + answer);

            for (int i = 0; i < 20; i++) {
                try (Socket s = new Socket(root.getHost(), root.getPort())) {
                    s.getOutputStream().write((head + "{\"mo").getBytes(StandardCharsets.US_ASCII));
                    s.getOutputStream().flush();
                }
            }
            Thread.sleep(500);
            assertTrue(errors.isEmpty(), () -> "clients that leave log no ERROR: " + errors.stream()
                    .map(r -> r.getLoggerName() + ": " + r.getMessage()).toList());
        } finally {
            rootLogger.removeHandler(capture);
        }
    }
}
