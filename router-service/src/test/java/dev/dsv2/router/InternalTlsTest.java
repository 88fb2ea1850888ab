package dev.dsv2.router;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.model.ExpertPlacement;
import dev.dsv2.engine.model.ExpertShard;
import dev.dsv2.expert.PlainExpertServer;
import dev.dsv2.expert.ServedShard;
import dev.dsv2.expert.ShardSettings;
import dev.dsv2.proto.internal.v1.ExpertsGrpc;
import dev.dsv2.proto.internal.v1.ShardInfoRequest;
import dev.dsv2.proto.tls.InternalTls;
import dev.dsv2.testsupport.TestCertificates;
import dev.dsv2.testsupport.TestCertificates.Authority;
import dev.dsv2.testsupport.TestCertificates.Identity;
import dev.dsv2.testsupport.TestCheckpoints;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Internal mTLS between the router and an expert shard: the shard (the expert-service's gRPC server with the same
 * {@link InternalTls#serverContext()} its Quarkus server gets) serves only clients with a certificate from the
 * configured CA, the router's real {@link ShardEndpoint} / {@link RemoteExperts} connect with theirs, the server's
 * name is verified, and bad settings fail with the key and path named.
 */
class InternalTlsTest {
    private static final Path DIR = Path.of("target", "tls-router-test").toAbsolutePath();
    private static Authority ca;
    private static Identity router;
    private static Identity rogue;
    private static Path modelDir;
    private static VectorBackend backend;
    private static ExpertShard shard;
    private static PlainExpertServer server;
    private static PlainExpertServer misnamed;

    @BeforeAll
    static void start() throws Exception {
        ca = TestCertificates.authority(DIR, "ca");
        Identity expert = ca.issue("expert", "DNS:localhost", "IP:127.0.0.1");
        Identity elsewhere = ca.issue("elsewhere", "DNS:expert.elsewhere");
        router = ca.issue("router", "DNS:localhost", "IP:127.0.0.1");
        rogue = TestCertificates.authority(DIR, "rogue-ca").issue("rogue", "DNS:localhost", "IP:127.0.0.1");

        modelDir = TestCheckpoints.tiny(3);
        backend = new VectorBackend(1);
        shard = ExpertShard.load(modelDir, backend, ExpertPlacement.all(16), true, null);
        ServedShard served = ServedShard.ofLoaded(ShardSettings.resolve(1, OptionalInt.of(0), OptionalInt.empty(), 1,
                true), shard, "tiny");
        server = PlainExpertServer.start(served, "127.0.0.1", 0, 1, new SimpleMeterRegistry(),
                Optional.of(InternalTls.load(expert.cert(), expert.key(), ca.cert(), Optional.empty())));
        misnamed = PlainExpertServer.start(served, "127.0.0.1", 0, 1, new SimpleMeterRegistry(),
                Optional.of(InternalTls.load(elsewhere.cert(), elsewhere.key(), ca.cert(), Optional.empty())));
    }

    @AfterAll
    static void stop() {
        server.close();
        misnamed.close();
        shard.close();
        backend.close();
    }

    private static Optional<InternalTls> tls(Identity id, Optional<String> authority) {
        return Optional.of(InternalTls.load(id.cert(), id.key(), ca.cert(), authority));
    }

    private static String address(PlainExpertServer s) {
        return "127.0.0.1:" + s.port();
    }

    @Test
    void aClientWithTheCaSignedCertificateIsServed() {
        try (ShardEndpoint e = ShardEndpoint.parse(address(server), tls(router, Optional.empty()))) {
            assertEquals(1, e.fetchInfo(Duration.ofSeconds(10)).getShardCount());
        }
    }

    @Test
    void remoteExpertsDiscoverTheShardOverMutualTls() throws Exception {
        RemoteExperts remote = RemoteExperts.connect(ModelConfig.load(modelDir), List.of(address(server)),
                RemoteExperts.Options.defaults().withSharedOnShards(true).withInternalTls(tls(router, Optional.empty())),
                null);
        try {
            assertTrue(remote.awaitReady(Duration.ofSeconds(20)), remote.status());
        } finally {
            remote.close();
        }
    }

    @Test
    void aPkcs1RsaKeyAsCertManagerWritesByDefaultIsRead() {
        Identity rsa = ca.issueRsaPkcs1("router-rsa", "DNS:localhost");
        try (ShardEndpoint e = ShardEndpoint.parse(address(server), Optional.of(InternalTls.load(rsa.cert(), rsa.key(),
                ca.cert(), Optional.empty())))) {
            assertEquals(1, e.fetchInfo(Duration.ofSeconds(10)).getShardCount());
        }
    }

    @Test
    void aPlaintextClientIsRefused() {
        try (ShardEndpoint e = ShardEndpoint.parse(address(server), Optional.empty())) {
            StatusRuntimeException x = assertThrows(StatusRuntimeException.class,
                    () -> e.fetchInfo(Duration.ofSeconds(5)));
            assertEquals(Status.Code.UNAVAILABLE, x.getStatus().getCode());
        }
    }

    @Test
    void aTlsClientWithoutACertificateIsRefused() throws Exception {
        ManagedChannel ch = Grpc.newChannelBuilder(address(server), TlsChannelCredentials.newBuilder()
                .trustManager(ca.cert().toFile()).build()).build();
        try {
            StatusRuntimeException x = assertThrows(StatusRuntimeException.class, () -> ExpertsGrpc
                    .newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS)
                    .info(ShardInfoRequest.getDefaultInstance()));
            assertEquals(Status.Code.UNAVAILABLE, x.getStatus().getCode());
        } finally {
            ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aClientCertificateFromAnotherCaIsRefused() {
        Optional<InternalTls> impostor = Optional.of(InternalTls.load(rogue.cert(), rogue.key(), ca.cert(),
                Optional.empty()));
        try (ShardEndpoint e = ShardEndpoint.parse(address(server), impostor)) {
            StatusRuntimeException x = assertThrows(StatusRuntimeException.class,
                    () -> e.fetchInfo(Duration.ofSeconds(5)));
            assertEquals(Status.Code.UNAVAILABLE, x.getStatus().getCode());
        }
    }

    @Test
    void theServerNameIsVerifiedAndTheAuthorityOverrideNamesIt() {
        try (ShardEndpoint e = ShardEndpoint.parse(address(misnamed), tls(router, Optional.empty()))) {
            StatusRuntimeException x = assertThrows(StatusRuntimeException.class,
                    () -> e.fetchInfo(Duration.ofSeconds(5)));
            assertEquals(Status.Code.UNAVAILABLE, x.getStatus().getCode());
        }
        try (ShardEndpoint e = ShardEndpoint.parse(address(misnamed), tls(router,
                Optional.of("expert.elsewhere")))) {
            assertEquals(1, e.fetchInfo(Duration.ofSeconds(10)).getShardCount());
        }
    }

    @Test
    void nothingConfiguredIsPlaintextAndAPartialConfigurationNamesTheMissingKeys() {
        assertEquals(Optional.empty(), InternalTls.fromConfig(key -> Optional.empty()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> InternalTls.fromConfig(
                key -> Optional.ofNullable(Map.of(InternalTls.CERT, router.cert().toString()).get(key))));
        assertEquals("internal mTLS needs dsv2.internal-tls.cert, dsv2.internal-tls.key and dsv2.internal-tls.ca "
                + "together (PEM files); missing: dsv2.internal-tls.key, dsv2.internal-tls.ca", e.getMessage());
    }

    @Test
    void aMissingOrWrongFileIsNamedWithItsKey() throws Exception {
        Path missing = DIR.resolve("no-such.crt");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> InternalTls.load(missing, router.key(), ca.cert(), Optional.empty()));
        assertEquals("dsv2.internal-tls.cert: " + missing + " does not exist", e.getMessage());

        e = assertThrows(IllegalArgumentException.class,
                () -> InternalTls.load(router.key(), router.key(), ca.cert(), Optional.empty()));
        assertEquals("dsv2.internal-tls.cert: " + router.key() + " is not a PEM certificate file (no -----BEGIN "
                + "CERTIFICATE----- block; it holds a 'PRIVATE KEY')", e.getMessage());

        e = assertThrows(IllegalArgumentException.class,
                () -> InternalTls.load(router.cert(), router.cert(), ca.cert(), Optional.empty()));
        assertTrue(e.getMessage().startsWith("dsv2.internal-tls.key: " + router.cert() + " is not a PEM private key"),
                e.getMessage());

        e = assertThrows(IllegalArgumentException.class,
                () -> InternalTls.load(router.cert(), rogue.key(), ca.cert(), Optional.empty()));
        assertEquals("dsv2.internal-tls.key: " + rogue.key() + " is not the private key of the certificate in "
                + "dsv2.internal-tls.cert: " + router.cert() + " (CN=router)", e.getMessage());

        Path garbage = DIR.resolve("garbage.pem");
        Files.writeString(garbage, "not a certificate\n");
        e = assertThrows(IllegalArgumentException.class,
                () -> InternalTls.load(router.cert(), router.key(), garbage, Optional.empty()));
        assertEquals("dsv2.internal-tls.ca: " + garbage + " is not a PEM certificate file (no -----BEGIN "
                + "CERTIFICATE----- block)", e.getMessage());
    }
}
