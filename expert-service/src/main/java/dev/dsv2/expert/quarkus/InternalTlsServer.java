package dev.dsv2.expert.quarkus;

import dev.dsv2.proto.tls.InternalTls;
import io.quarkus.grpc.api.ServerBuilderCustomizer;
import io.quarkus.grpc.runtime.config.GrpcServerConfiguration;
import io.vertx.grpc.VertxServerBuilder;
import jakarta.inject.Singleton;
import org.eclipse.microprofile.config.Config;

import java.util.Optional;
import java.util.logging.Logger;

/**
 * Internal mTLS on this service's gRPC server when {@code dsv2.internal-tls.*} is set ({@link InternalTls}): the
 * server presents its certificate and refuses every client without a certificate signed by the configured CA.
 *
 * <p>Quarkus' own {@code quarkus.grpc.server.ssl.*} reads a CA only from a JKS/PKCS12 trust store, not from the PEM
 * {@code ca.crt} of a cert-manager Secret, so the TLS context is set on the Netty server builder here; Quarkus' SSL
 * settings stay unset (plain text from its point of view), which leaves this context in place.
 */
@Singleton
public class InternalTlsServer implements ServerBuilderCustomizer<VertxServerBuilder> {
    private static final Logger LOG = Logger.getLogger(InternalTlsServer.class.getName());

    private final Optional<InternalTls> tls;

    InternalTlsServer(Config config) {
        this.tls = InternalTls.fromConfig(key -> config.getOptionalValue(key, String.class));
    }

    @Override
    public void customize(GrpcServerConfiguration config, VertxServerBuilder builder) {
        tls.ifPresent(t -> {
            builder.nettyBuilder().sslContext(t.serverContext());
            LOG.info(() -> "gRPC server requires client certificates: " + t.describe());
        });
    }
}
