package dev.dsv2.gateway;

import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.model.ServedModel;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.reflection.v1alpha.ServerReflectionGrpc;
import io.grpc.reflection.v1alpha.ServerReflectionRequest;
import io.grpc.reflection.v1alpha.ServerReflectionResponse;
import io.grpc.reflection.v1alpha.ServiceResponse;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Health endpoints, gRPC health and reflection, and the metrics exposition with vLLM's exact names. */
@QuarkusTest
class OperationsTest {
    @Inject
    ModelHost host;

    @ConfigProperty(name = "quarkus.grpc.server.test-port")
    int grpcPort;

    @TestHTTPResource("/")
    URL root;

    ServedModel model;

    @BeforeEach
    void ready() {
        model = ServedModelSupport.await(host);
    }

    @Test
    void healthEndpointsAreUpOnceTheModelIsLoaded() {
        for (String path : List.of("/q/health/ready", "/q/health/live", "/q/health/started")) {
            RestAssured.get(path).then().statusCode(200).body("status", equalTo("UP"))
                    .body("checks.find { it.name == 'model' }.data.state", equalTo("READY"));
        }
        RestAssured.get("/q/health/ready").then().body("checks.find { it.name == 'model' }.data.router",
                equalTo("embedded"));
    }

    @Test
    void grpcHealthAndReflectionAreOn() throws Exception {
        ManagedChannel channel = ManagedChannelBuilder.forAddress("localhost", grpcPort).usePlaintext().build();
        try {
            HealthCheckResponse health = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.newBuilder().build());
            assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());

            CompletableFuture<List<String>> services = new CompletableFuture<>();
            StreamObserver<ServerReflectionRequest> requests = ServerReflectionGrpc.newStub(channel)
                    .serverReflectionInfo(new StreamObserver<>() {
                        @Override
                        public void onNext(ServerReflectionResponse r) {
                            services.complete(r.getListServicesResponse().getServiceList().stream()
                                    .map(ServiceResponse::getName).toList());
                        }

                        @Override
                        public void onError(Throwable t) {
                            services.completeExceptionally(t);
                        }

                        @Override
                        public void onCompleted() {
                        }
                    });
            requests.onNext(ServerReflectionRequest.newBuilder().setListServices("*").build());
            List<String> names = services.get(10, TimeUnit.SECONDS);
            requests.onCompleted();
            assertTrue(names.contains("dsv2.v1.Inference"), names.toString());
            assertTrue(names.contains("grpc.health.v1.Health"), names.toString());
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private static String scrape() {
        return RestAssured.get("/q/metrics").then().statusCode(200).extract().asString();
    }

    /** The value of the sample line that starts with {@code series} (name and labels), or 0 when absent. */
    private static double sample(String exposition, String series) {
        Matcher m = Pattern.compile("^" + Pattern.quote(series) + " ([^ \\n]+)", Pattern.MULTILINE)
                .matcher(exposition);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    @Test
    void metricsUseVllmNamesAndMoveWithTraffic() throws Exception {
        String label = "{model_name=\"" + model.name() + "\"}";
        String before = scrape();
        for (String name : List.of("vllm:num_requests_running", "vllm:num_requests_waiting",
                "vllm:kv_cache_usage_perc")) {
            assertTrue(before.contains("# TYPE " + name + " gauge"), name);
            assertTrue(before.contains(name + label + " "), name);
        }
        for (String name : List.of("vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
                "vllm:e2e_request_latency_seconds")) {
            assertTrue(before.contains("# TYPE " + name + " histogram"), name);
        }
        assertTrue(before.contains("# TYPE vllm:prompt_tokens_total counter")
                || before.contains("# TYPE vllm:prompt_tokens counter"), "prompt tokens counter");
        assertTrue(before.contains("dsv2_kv_blocks_free "), "KV blocks gauge");

        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(root
                + "v1/completions")).header("content-type", "application/json").POST(HttpRequest.BodyPublishers
                .ofString("{\"model\": \"" + model.name() + "\", \"prompt\": \"Hi\", \"max_tokens\": 5}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode());

        String after = scrape();
        assertEquals(sample(before, "vllm:time_to_first_token_seconds_count" + label) + 1,
                sample(after, "vllm:time_to_first_token_seconds_count" + label));
        assertEquals(sample(before, "vllm:inter_token_latency_seconds_count" + label) + 4,
                sample(after, "vllm:inter_token_latency_seconds_count" + label));
        assertEquals(sample(before, "vllm:generation_tokens_total" + label) + 5,
                sample(after, "vllm:generation_tokens_total" + label));
        int promptTokens = model.tokenizer().encodePrompt("Hi").length;
        assertEquals(sample(before, "vllm:prompt_tokens_total" + label) + promptTokens,
                sample(after, "vllm:prompt_tokens_total" + label));
        assertEquals(sample(before, "vllm:e2e_request_latency_seconds_count" + label) + 1,
                sample(after, "vllm:e2e_request_latency_seconds_count" + label));
        assertEquals(sample(before, "dsv2_generation_tokens_total") + 5, sample(after, "dsv2_generation_tokens_total"));
        assertEquals(sample(before, "dsv2_time_to_first_token_seconds_count") + 1,
                sample(after, "dsv2_time_to_first_token_seconds_count"));
        String success = "dsv2_requests_total{api=\"completions\",outcome=\"success\"}";
        assertEquals(sample(before, success) + 1, sample(after, success));
        assertTrue(sample(after, "dsv2_batch_rows_count") > sample(before, "dsv2_batch_rows_count"),
                "scheduler steps are counted");
    }
}
