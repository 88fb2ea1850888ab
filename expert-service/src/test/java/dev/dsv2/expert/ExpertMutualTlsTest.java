package dev.dsv2.expert;

import dev.dsv2.proto.internal.v1.ExpertsGrpc;
import dev.dsv2.proto.internal.v1.ShardInfoRequest;
import dev.dsv2.proto.tls.InternalTls;
import dev.dsv2.testsupport.TestCertificates;
import dev.dsv2.testsupport.TestCertificates.Authority;
import dev.dsv2.testsupport.TestCertificates.Identity;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The packaged expert-service with {@code dsv2.internal-tls.*} set: its Quarkus gRPC server (through
 * {@code InternalTlsServer}) serves a client holding a certificate from the configured CA and refuses a plaintext
 * client and one whose certificate another CA signed.
 */
@QuarkusTest
@QuarkusTestResource(value = ExpertMutualTlsTest.Certificates.class, restrictToAnnotatedClass = true)
class ExpertMutualTlsTest {

    /** The shard resource's configuration plus a CA, the shard's certificate and two client identities. */
    public static class Certificates implements QuarkusTestResourceLifecycleManager {
        static volatile Authority ca;
        static volatile Identity client;
        static volatile Identity rogue;
        private final ShardTestResource shard = new ShardTestResource();

        @Override
        public Map<String, String> start() {
            Path dir = Path.of("target", "tls-expert-test").toAbsolutePath();
            ca = TestCertificates.authority(dir, "ca");
            Identity server = ca.issue("expert", "DNS:localhost", "IP:127.0.0.1");
            client = ca.issue("router", "DNS:localhost", "IP:127.0.0.1");
            rogue = TestCertificates.authority(dir, "rogue-ca").issue("rogue", "DNS:localhost");
            Map<String, String> config = new HashMap<>(shard.start());
            config.put(InternalTls.CERT, server.cert().toString());
            config.put(InternalTls.KEY, server.key().toString());
            config.put(InternalTls.CA, ca.cert().toString());
            return config;
        }

        @Override
        public void stop() {
        }
    }

    private static int info(Optional<InternalTls> tls) throws InterruptedException {
        ManagedChannel ch = InternalTls.channelBuilder("127.0.0.1:" + ShardTestResource.grpcPort, tls).build();
        try {
            return ExpertsGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .info(ShardInfoRequest.getDefaultInstance()).getShardCount();
        } finally {
            ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aClientWithACertificateFromTheConfiguredCaIsServed() throws Exception {
        assertEquals(2, info(Optional.of(InternalTls.load(Certificates.client.cert(), Certificates.client.key(),
                Certificates.ca.cert(), Optional.empty()))));
    }

    @Test
    void plaintextAndForeignCertificatesAreRefused() {
        StatusRuntimeException plain = assertThrows(StatusRuntimeException.class, () -> info(Optional.empty()));
        assertEquals(Status.Code.UNAVAILABLE, plain.getStatus().getCode());
        StatusRuntimeException foreign = assertThrows(StatusRuntimeException.class, () -> info(Optional.of(
                InternalTls.load(Certificates.rogue.cert(), Certificates.rogue.key(), Certificates.ca.cert(),
                        Optional.empty()))));
        assertEquals(Status.Code.UNAVAILABLE, foreign.getStatus().getCode());
    }
}
