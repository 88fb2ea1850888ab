package dev.dsv2.gateway;

import dev.dsv2.testsupport.TestCertificates;
import dev.dsv2.testsupport.TestCertificates.Authority;
import dev.dsv2.testsupport.TestCertificates.Identity;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code dsv2.tls.cert} / {@code dsv2.tls.key} set: the OpenAI API answers over HTTPS to a client trusting the CA,
 * the HTTP port serves no plaintext, and the gRPC API runs over TLS (a plaintext channel is refused).
 */
@QuarkusTest
@TestProfile(PublicTlsTest.WithTls.class)
class PublicTlsTest {
    static final Path DIR = Path.of("target", "tls-gateway-test").toAbsolutePath();

    public static class WithTls implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            Authority ca = TestCertificates.authority(DIR, "ca");
            Identity server = ca.issue("gateway", "DNS:localhost", "IP:127.0.0.1");
            return Map.of("dsv2.tls.cert", server.cert().toString(), "dsv2.tls.key", server.key().toString());
        }
    }

    @TestHTTPResource(value = "/v1/models", tls = true)
    URL models;

    @ConfigProperty(name = "quarkus.grpc.server.test-port")
    int grpcPort;

    private static SSLContext trustingTheCa() throws Exception {
        KeyStore anchors = KeyStore.getInstance("PKCS12");
        anchors.load(null, null);
        try (InputStream in = Files.newInputStream(DIR.resolve("ca.crt"))) {
            anchors.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(anchors);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }

    @Test
    void theOpenAiApiAnswersOverHttpsWithTheCa() throws Exception {
        assertEquals("https", models.getProtocol());
        try (HttpClient client = HttpClient.newBuilder().sslContext(trustingTheCa())
                .connectTimeout(Duration.ofSeconds(10)).build()) {
            // 503 "model is loading" (also over HTTPS) until the demo model is in.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            HttpResponse<String> r;
            while ((r = client.send(HttpRequest.newBuilder(models.toURI()).build(),
                    HttpResponse.BodyHandlers.ofString())).statusCode() == 503 && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            assertEquals(200, r.statusCode(), r.body());
            assertTrue(r.body().contains("\"object\":\"list\""), r.body());
        }
    }

    @Test
    void plaintextHttpIsNotServedOnThePort() throws Exception {
        URI plain = URI.create("http://localhost:" + models.getPort() + "/v1/models");
        try (HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
            assertThrows(IOException.class, () -> client.send(HttpRequest.newBuilder(plain)
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()));
        }
    }

    @Test
    void grpcRunsOverTlsAndRefusesPlaintext() throws Exception {
        ManagedChannel tls = Grpc.newChannelBuilder("localhost:" + grpcPort, TlsChannelCredentials.newBuilder()
                .trustManager(DIR.resolve("ca.crt").toFile()).build()).build();
        ManagedChannel plain = Grpc.newChannelBuilder("localhost:" + grpcPort, InsecureChannelCredentials.create())
                .build();
        try {
            HealthCheckResponse health = HealthGrpc.newBlockingStub(tls).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance());
            assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> HealthGrpc
                    .newBlockingStub(plain).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance()));
            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        } finally {
            tls.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            plain.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
