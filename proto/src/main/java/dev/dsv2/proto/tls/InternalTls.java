package dev.dsv2.proto.tls;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannelBuilder;
import io.grpc.TlsChannelCredentials;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * Mutual TLS between the services (gateway -> router -> expert shards), from {@code dsv2.internal-tls.*}: each pod
 * has one certificate and key (used as its server certificate and as its client certificate) and trusts one CA. A
 * server with it set accepts only clients whose certificate that CA signed; a client checks the server's certificate
 * against the CA and the host name it dials (or {@code dsv2.internal-tls.authority} when every pod shares one
 * certificate issued for a fixed name). Unset, everything stays plaintext.
 *
 * <p>The files are read once, at start-up, with errors naming the key and path ({@link PemFiles}); a rotated Secret
 * takes effect on the pod's next restart. Certificates need both the {@code serverAuth} and {@code clientAuth}
 * extended key usages when they carry any (cert-manager: {@code usages: [server auth, client auth]}).
 *
 * <p>Immutable once loaded; holds the key material in memory (never logged: {@link #toString()} names the files).
 */
public final class InternalTls {
    public static final String CERT = "dsv2.internal-tls.cert";
    public static final String KEY = "dsv2.internal-tls.key";
    public static final String CA = "dsv2.internal-tls.ca";
    public static final String AUTHORITY = "dsv2.internal-tls.authority";

    private final Path cert;
    private final Path key;
    private final Path ca;
    private final Optional<String> authority;
    private final KeyManagerFactory keys;
    private final TrustManagerFactory trust;

    private InternalTls(Path cert, Path key, Path ca, Optional<String> authority, KeyManagerFactory keys,
                        TrustManagerFactory trust) {
        this.cert = cert;
        this.key = key;
        this.ca = ca;
        this.authority = authority;
        this.keys = keys;
        this.trust = trust;
    }

    /**
     * The settings from configuration: empty when none of cert, key and ca is set (plaintext).
     *
     * @param config a key's value (blank counts as unset)
     * @throws IllegalArgumentException when only some are set, or a file is missing, unreadable or not PEM
     */
    public static Optional<InternalTls> fromConfig(Function<String, Optional<String>> config) {
        Optional<String> cert = value(config, CERT);
        Optional<String> key = value(config, KEY);
        Optional<String> ca = value(config, CA);
        if (cert.isEmpty() && key.isEmpty() && ca.isEmpty()) {
            return Optional.empty();
        }
        List<String> missing = new ArrayList<>();
        cert.ifPresentOrElse(v -> { }, () -> missing.add(CERT));
        key.ifPresentOrElse(v -> { }, () -> missing.add(KEY));
        ca.ifPresentOrElse(v -> { }, () -> missing.add(CA));
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("internal mTLS needs " + CERT + ", " + KEY + " and " + CA
                    + " together (PEM files); missing: " + String.join(", ", missing));
        }
        return Optional.of(load(Path.of(cert.get()), Path.of(key.get()), Path.of(ca.get()),
                value(config, AUTHORITY)));
    }

    /**
     * Reads and checks the three PEM files.
     *
     * @param authority the name the clients expect in the servers' certificates instead of the dialed host, if any
     * @throws IllegalArgumentException naming the key and path of a missing, unreadable or non-PEM file, or of a key
     *                                  that is not the certificate's
     */
    public static InternalTls load(Path cert, Path key, Path ca, Optional<String> authority) {
        List<X509Certificate> chain = PemFiles.certificates(CERT, cert);
        PrivateKey privateKey = PemFiles.privateKey(KEY, key);
        PemFiles.requireKeyOf(KEY, key, privateKey, CERT, cert, chain.getFirst());
        List<X509Certificate> roots = PemFiles.certificates(CA, ca);
        try {
            KeyStore identity = KeyStore.getInstance("PKCS12");
            identity.load(null, null);
            identity.setKeyEntry("identity", privateKey, new char[0], chain.toArray(X509Certificate[]::new));
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(identity, new char[0]);
            KeyStore anchors = KeyStore.getInstance("PKCS12");
            anchors.load(null, null);
            for (int i = 0; i < roots.size(); i++) {
                anchors.setCertificateEntry("ca-" + i, roots.get(i));
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(anchors);
            return new InternalTls(cert, key, ca, authority, kmf, tmf);
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalArgumentException(KEY + ": " + key + " and " + CERT + ": " + cert
                    + " cannot be used together: " + e.getMessage(), e);
        }
    }

    /** The credentials of a channel to another service: TLS with this identity, or plaintext when {@code tls} is empty. */
    public static ChannelCredentials channelCredentials(Optional<InternalTls> tls) {
        return tls.<ChannelCredentials>map(t -> TlsChannelCredentials.newBuilder()
                .keyManager(t.keys.getKeyManagers()).trustManager(t.trust.getTrustManagers()).build())
                .orElseGet(InsecureChannelCredentials::create);
    }

    /** A channel builder for {@code target} ({@code host:port}) with {@link #channelCredentials} and the authority. */
    public static ManagedChannelBuilder<?> channelBuilder(String target, Optional<InternalTls> tls) {
        ManagedChannelBuilder<?> b = Grpc.newChannelBuilder(target, channelCredentials(tls));
        tls.flatMap(InternalTls::authority).ifPresent(b::overrideAuthority);
        return b;
    }

    /** A Netty channel builder for {@code host:port} with {@link #channelCredentials} and the authority. */
    public static NettyChannelBuilder nettyChannelBuilder(String host, int port, Optional<InternalTls> tls) {
        NettyChannelBuilder b = NettyChannelBuilder.forAddress(host, port, channelCredentials(tls));
        tls.flatMap(InternalTls::authority).ifPresent(b::overrideAuthority);
        return b;
    }

    /** The server side: this identity, and a client certificate signed by the CA required of every client. */
    public SslContext serverContext() {
        try {
            return GrpcSslContexts.configure(SslContextBuilder.forServer(keys).trustManager(trust)
                    .clientAuth(ClientAuth.REQUIRE)).build();
        } catch (SSLException e) {
            throw new IllegalArgumentException("internal mTLS: cannot build the server TLS context from " + cert
                    + " and " + key + ": " + e.getMessage(), e);
        }
    }

    public Path cert() {
        return cert;
    }

    public Path key() {
        return key;
    }

    public Path ca() {
        return ca;
    }

    /** The name the clients expect in the servers' certificates instead of the dialed host, if any. */
    public Optional<String> authority() {
        return authority;
    }

    @Override
    public String toString() {
        return describe();
    }

    /** For logs: the files, without key material. */
    public String describe() {
        return "mTLS (cert " + cert + ", CA " + ca + authority.map(a -> ", authority " + a).orElse("") + ")";
    }

    private static Optional<String> value(Function<String, Optional<String>> config, String key) {
        return config.apply(key).map(String::trim).filter(s -> !s.isEmpty());
    }
}
