package dev.dsv2.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.gateway.core.GenerationService;
import dev.dsv2.gateway.guard.ShutdownDrain;
import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.proto.v1.GenerateRequest;
import dev.dsv2.proto.v1.InferenceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Transient saturation is a 429 with {@code Retry-After} (and only after the admission wait), and from the first
 * moment of the shutdown drain readiness is DOWN and new requests get 503 / UNAVAILABLE. Its own tiny budget: two
 * sequences in flight, one owner may hold both. The drain runs last: it leaves this application refusing requests.
 */
@QuarkusTest
@TestProfile(SaturationAndDrainTest.TinyBudget.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SaturationAndDrainTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newHttpClient();

    public static class TinyBudget implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("dsv2.gateway.max-queued-sequences", "2", "dsv2.gateway.max-sequences-per-request", "2",
                    "dsv2.gateway.owner-share", "1.0", "dsv2.gateway.admission-wait", "300ms");
        }
    }

    @Inject
    ModelHost host;

    @Inject
    ShutdownDrain drain;

    @Inject
    GenerationService generations;

    @TestHTTPResource("/")
    URL root;

    @ConfigProperty(name = "quarkus.grpc.server.test-port")
    int grpcPort;

    HttpResponse<String> post(String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(root + "v1/completions"))
                .header("content-type", "application/json").timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    @Order(1)
    void aFullBudgetIsA429WithRetryAfterAfterTheAdmissionWait() throws Exception {
        ServedModel model = ServedModelSupport.await(host);
        HttpRequest longStream = HttpRequest.newBuilder(URI.create(root + "v1/completions"))
                .header("content-type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"%s\",\"prompt\":\"Go\",\"n\":2,\"max_tokens\":4000,\"ignore_eos\":true,\"stream\":true}"
                                .formatted(model.name()))).build();
        HttpResponse<java.io.InputStream> stream = HTTP.send(longStream, HttpResponse.BodyHandlers.ofInputStream());
        try (BufferedReader events = new BufferedReader(new InputStreamReader(stream.body(), StandardCharsets.UTF_8))) {
            assertTrue(events.readLine().startsWith("data: "), "the budget's two sequences are running");

            long start = System.nanoTime();
            HttpResponse<String> r = post("{\"model\":\"%s\",\"prompt\":\"Hi\",\"max_tokens\":1}".formatted(model.name()));
            long waitedMs = (System.nanoTime() - start) / 1_000_000;
            assertEquals(429, r.statusCode(), r.body());
            assertEquals("1", r.headers().firstValue("retry-after").orElse(null));
            assertEquals("rate_limit_error", JSON.readTree(r.body()).at("/error/type").asText());
            assertTrue(waitedMs >= 250, "refused only after the admission wait: " + waitedMs + " ms");
        }
        ServedModelSupport.awaitCacheEmpty(host);
    }

    @Test
    @Order(2)
    void theDrainTurnsReadinessDownAndRefusesNewRequests() throws Exception {
        ServedModel model = ServedModelSupport.await(host);
        assertEquals(0, drain.drain(() -> 0, () -> generations.abortAll(label -> true)));

        HttpResponse<String> ready = HTTP.send(HttpRequest.newBuilder(URI.create(root + "q/health/ready")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(503, ready.statusCode());
        JsonNode accepting = null;
        for (JsonNode check : JSON.readTree(ready.body()).get("checks")) {
            if (check.get("name").asText().equals("accepting")) {
                accepting = check;
            }
        }
        assertEquals("DOWN", accepting.get("status").asText(), ready.body());

        HttpResponse<String> r = post("{\"model\":\"%s\",\"prompt\":\"Hi\",\"max_tokens\":1}".formatted(model.name()));
        assertEquals(503, r.statusCode());
        assertEquals("shutting_down", JSON.readTree(r.body()).at("/error/code").asText());

        ManagedChannel channel = ManagedChannelBuilder.forAddress("localhost", grpcPort).usePlaintext().build();
        try {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> InferenceGrpc
                    .newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .generate(GenerateRequest.newBuilder().setPrompt("Hi").build()).next());
            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
