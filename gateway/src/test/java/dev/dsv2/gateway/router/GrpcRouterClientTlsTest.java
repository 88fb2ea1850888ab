package dev.dsv2.gateway.router;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.serve.ServingSettings;
import dev.dsv2.proto.tls.InternalTls;
import dev.dsv2.testsupport.TestCertificates;
import dev.dsv2.testsupport.TestCertificates.Authority;
import dev.dsv2.testsupport.TestCertificates.Identity;
import dev.dsv2.testsupport.TestCheckpoints;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The gateway's {@link GrpcRouterClient} to a router serving the internal API over mTLS: with the gateway's
 * CA-signed certificate requests stream as usual; without one (plaintext, or a certificate from another CA) the
 * router is reported unreachable.
 */
class GrpcRouterClientTlsTest {
    private static final Path DIR = Path.of("target", "tls-router-client-test").toAbsolutePath();
    static EmbeddedRouter backend;
    static Server server;
    static Authority ca;
    static Identity gateway;
    static Identity rogue;

    @BeforeAll
    static void start() throws Exception {
        ca = TestCertificates.authority(DIR, "ca");
        Identity router = ca.issue("router", "DNS:localhost", "IP:127.0.0.1");
        gateway = ca.issue("gateway", "DNS:localhost");
        rogue = TestCertificates.authority(DIR, "rogue-ca").issue("rogue", "DNS:localhost");
        backend = EmbeddedRouter.load(TestCheckpoints.tiny(7), ServingSettings.defaults().withThreads(2)
                .withKvCacheTokens(4096).withContextLimit(2048).withBatchLimits(256, 16), line -> { });
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(new LoopbackRouterService(backend))
                .sslContext(InternalTls.load(router.cert(), router.key(), ca.cert(), Optional.empty()).serverContext())
                .build().start();
    }

    @AfterAll
    static void stop() throws Exception {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        backend.close();
    }

    private static GrpcRouterClient client(Optional<InternalTls> tls) {
        return new GrpcRouterClient("localhost:" + server.getPort(), tls);
    }

    @Test
    void withTheCaSignedCertificateRequestsStream() throws Exception {
        try (GrpcRouterClient client = client(Optional.of(InternalTls.load(gateway.cert(), gateway.key(), ca.cert(),
                Optional.empty())))) {
            assertTrue(client.status().ready(), client.status().detail());
            RouterEvents events = new RouterEvents();
            client.generate(new RouterRequest("tls-1", new int[]{0, 17, 300}, SamplingParams.builder()
                    .temperature(0).maxTokens(4).ignoreEos(true).build()), events);
            events.await();
            assertEquals(FinishReason.LENGTH, events.reason);
            assertEquals(4, events.tokens.size());
        }
    }

    @Test
    void plaintextOrAForeignCertificateFindsTheRouterUnreachable() {
        try (GrpcRouterClient plain = client(Optional.empty())) {
            RouterStatus s = plain.status();
            assertFalse(s.ready());
            assertTrue(s.detail().contains("is unreachable"), s.detail());
        }
        try (GrpcRouterClient foreign = client(Optional.of(InternalTls.load(rogue.cert(), rogue.key(), ca.cert(),
                Optional.empty())))) {
            assertFalse(foreign.status().ready());
        }
    }
}
