package dev.dsv2.gateway;

import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.proto.v1.AbortRequest;
import dev.dsv2.proto.v1.GenerateChunk;
import dev.dsv2.proto.v1.GenerateRequest;
import dev.dsv2.proto.v1.InferenceGrpc;
import dev.dsv2.proto.v1.ListModelsRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.MetadataUtils;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.RestAssured;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.URL;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.startsWith;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * With API keys configured: HTTP needs {@code Authorization: Bearer KEY} (401 in OpenAI's shape otherwise), gRPC
 * needs {@code authorization} metadata (UNAUTHENTICATED), health and metrics stay open, and a key can only abort its
 * own requests (before keys, any client could abort any request by its id). Also: only JSON bodies are read (a
 * {@code text/plain} POST needs no CORS preflight, so a web page could drive the server).
 */
@QuarkusTest
@TestProfile(ApiKeyProtectionTest.WithKeys.class)
class ApiKeyProtectionTest {
    static final String KEY_A = "test-key-alpha";
    static final String KEY_B = "test-key-bravo";

    public static class WithKeys implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("dsv2.api-keys", KEY_A + "," + KEY_B, "dsv2.grpc.reflection", "false");
        }
    }

    @Inject
    ModelHost host;

    @ConfigProperty(name = "quarkus.grpc.server.test-port")
    int grpcPort;

    @TestHTTPResource("/")
    URL root;

    ManagedChannel channel;
    ServedModel model;

    @BeforeEach
    void connect() {
        model = ServedModelSupport.await(host);
        channel = ManagedChannelBuilder.forAddress("localhost", grpcPort).usePlaintext().build();
    }

    @AfterEach
    void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private InferenceGrpc.InferenceBlockingStub stub(String key) {
        InferenceGrpc.InferenceBlockingStub stub = InferenceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(60, TimeUnit.SECONDS);
        return key == null ? stub : stub.withInterceptors(bearer(key));
    }

    private static io.grpc.ClientInterceptor bearer(String key) {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
        return MetadataUtils.newAttachHeadersInterceptor(headers);
    }

    @Test
    void reflectionTurnsOffWithItsProperty() throws Exception {
        java.util.concurrent.CompletableFuture<Throwable> ended = new java.util.concurrent.CompletableFuture<>();
        io.grpc.stub.StreamObserver<io.grpc.reflection.v1alpha.ServerReflectionRequest> requests =
                io.grpc.reflection.v1alpha.ServerReflectionGrpc.newStub(channel).withInterceptors(bearer(KEY_A))
                        .serverReflectionInfo(new io.grpc.stub.StreamObserver<>() {
                            @Override
                            public void onNext(io.grpc.reflection.v1alpha.ServerReflectionResponse r) {
                                ended.complete(null);
                            }

                            @Override
                            public void onError(Throwable t) {
                                ended.complete(t);
                            }

                            @Override
                            public void onCompleted() {
                                ended.complete(null);
                            }
                        });
        requests.onNext(io.grpc.reflection.v1alpha.ServerReflectionRequest.newBuilder().setListServices("").build());
        requests.onCompleted();
        Throwable t = ended.get(10, TimeUnit.SECONDS);
        assertEquals(Status.Code.UNIMPLEMENTED, t == null ? null : Status.fromThrowable(t).getCode(),
                "dsv2.grpc.reflection=false: no reflection service");
    }

    @Test
    void httpWithoutOrWithAWrongKeyIs401InOpenAisShape() {
        RestAssured.get("/v1/models").then().statusCode(401).header("www-authenticate", "Bearer")
                .body("error.type", equalTo("invalid_request_error")).body("error.code", equalTo("invalid_api_key"))
                .body("error.message", startsWith("You didn't provide an API key"));
        RestAssured.given().header("authorization", "Bearer not-a-key").get("/v1/models").then().statusCode(401)
                .body("error.code", equalTo("invalid_api_key"));
        RestAssured.given().header("authorization", "Bearer " + KEY_A).contentType("application/json")
                .body("{\"model\":\"" + model.name() + "\",\"prompt\":\"Hi\",\"max_tokens\":1}")
                .post("/v1/completions").then().statusCode(200);
        RestAssured.given().contentType("application/json").body("{}").post("/v1/chat/completions").then()
                .statusCode(401);
        RestAssured.given().header("authorization", "Bearer " + KEY_B).get("/v1/models").then().statusCode(200)
                .body("data[0].id", equalTo(model.name()));
    }

    @Test
    void healthAndMetricsStayOpen() {
        RestAssured.get("/q/health/ready").then().statusCode(200);
        RestAssured.get("/q/health/live").then().statusCode(200);
        RestAssured.get("/q/metrics").then().statusCode(200);
        HealthCheckResponse health = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .check(HealthCheckRequest.newBuilder().build());
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());
    }

    @Test
    void grpcWithoutOrWithAWrongKeyIsUnauthenticated() {
        StatusRuntimeException none = assertThrows(StatusRuntimeException.class,
                () -> stub(null).listModels(ListModelsRequest.getDefaultInstance()));
        assertEquals(Status.Code.UNAUTHENTICATED, none.getStatus().getCode());
        StatusRuntimeException wrong = assertThrows(StatusRuntimeException.class,
                () -> stub("nope").listModels(ListModelsRequest.getDefaultInstance()));
        assertEquals(Status.Code.UNAUTHENTICATED, wrong.getStatus().getCode());
        StatusRuntimeException generate = assertThrows(StatusRuntimeException.class,
                () -> stub(null).generate(GenerateRequest.newBuilder().setPrompt("x").build()).next());
        assertEquals(Status.Code.UNAUTHENTICATED, generate.getStatus().getCode());
        assertEquals(model.name(), stub(KEY_A).listModels(ListModelsRequest.getDefaultInstance()).getModels(0)
                .getId());
    }

    @Test
    void aKeyAbortsOnlyItsOwnRequestsAndRequestIdsAreScopedPerKey() throws Exception {
        Iterator<GenerateChunk> a = stub(KEY_A).generate(GenerateRequest.newBuilder().setRequestId("shared-id")
                .setPrompt("Count forever").setMaxTokens(4000).setTemperature(0).build());
        a.next(); // prompt ids
        a.next(); // a first token: running
        assertFalse(stub(KEY_B).abort(AbortRequest.newBuilder().setRequestId("shared-id").build()).getFound(),
                "another key's request is invisible");

        // Key B may use the same id for a request of its own.
        List<GenerateChunk> b = new ArrayList<>();
        stub(KEY_B).generate(GenerateRequest.newBuilder().setRequestId("shared-id").setPrompt("Hi")
                .setMaxTokens(2).setTemperature(0).build()).forEachRemaining(b::add);
        assertEquals("length", b.getLast().getFinishReason());

        assertTrue(stub(KEY_A).abort(AbortRequest.newBuilder().setRequestId("shared-id").build()).getFound());
        List<GenerateChunk> rest = new ArrayList<>();
        a.forEachRemaining(rest::add);
        assertEquals("abort", rest.getLast().getFinishReason());
        ServedModelSupport.awaitCacheEmpty(host);
    }

    @Test
    void nonJsonBodiesAre415SoAWebPageCannotPostWithoutAPreflight() throws Exception {
        String body = "{\"model\":\"" + model.name() + "\",\"prompt\":\"Hi\",\"max_tokens\":1}";
        java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
        for (String type : List.of("text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                "application/json; charset=utf-8")) {
            java.net.http.HttpResponse<String> r = http.send(java.net.http.HttpRequest.newBuilder(
                            java.net.URI.create(root + "v1/completions")).header("authorization", "Bearer " + KEY_A)
                    .header("content-type", type).POST(java.net.http.HttpRequest.BodyPublishers.ofString(body))
                    .build(), java.net.http.HttpResponse.BodyHandlers.ofString());
            if (type.startsWith("application/json")) {
                assertEquals(200, r.statusCode(), r.body());
            } else {
                assertEquals(415, r.statusCode(), type);
                assertTrue(r.body().contains("\"code\":\"unsupported_media_type\""), r.body());
                assertTrue(r.body().contains("Content-Type must be application/json"), r.body());
            }
        }
    }
}
