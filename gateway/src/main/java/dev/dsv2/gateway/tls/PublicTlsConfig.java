package dev.dsv2.gateway.tls;

import dev.dsv2.proto.tls.PemFiles;
import io.smallrye.config.ConfigSourceContext;
import io.smallrye.config.ConfigSourceFactory;
import io.smallrye.config.ConfigValue;
import io.smallrye.config.PropertiesConfigSource;
import org.eclipse.microprofile.config.spi.ConfigSource;

import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * TLS on the gateway's public ports from two keys, {@code dsv2.tls.cert} and {@code dsv2.tls.key} (PEM files, e.g.
 * {@code tls.crt} / {@code tls.key} of a cert-manager Secret; {@code ./dsv2 serve --tls-cert F --tls-key F}).
 * When both are set this source supplies the Quarkus keys they stand for:
 * <ul>
 *   <li>HTTP: the TLS registry entry {@value #REGISTRY_NAME} ({@code quarkus.tls.dsv2-public.key-store.pem.0.*}),
 *       {@code quarkus.http.tls-configuration-name}, HTTPS on the HTTP port number
 *       ({@code quarkus.http.ssl-port = quarkus.http.port}) and {@code quarkus.http.insecure-requests=disabled}: the
 *       port speaks HTTPS only, plaintext is not served;</li>
 *   <li>gRPC (its own server): {@code quarkus.grpc.server.ssl.certificate/key} and {@code plain-text=false}.</li>
 * </ul>
 * The files are checked here, so a missing or wrong file fails start-up with a message naming the key and path.
 * The source's ordinal ({@value #ORDINAL}) is above application.properties and below environment variables and
 * system properties, so any of these Quarkus keys can still be set explicitly (e.g.
 * {@code QUARKUS_HTTP_INSECURE_REQUESTS=redirect} with a separate {@code quarkus.http.ssl-port}).
 */
public final class PublicTlsConfig implements ConfigSourceFactory {
    public static final String CERT = "dsv2.tls.cert";
    public static final String KEY = "dsv2.tls.key";
    static final String REGISTRY_NAME = "dsv2-public";
    static final int ORDINAL = 275;

    @Override
    public Iterable<ConfigSource> getConfigSources(ConfigSourceContext context) {
        return quarkusKeys(key -> Optional.ofNullable(context.getValue(key)).map(ConfigValue::getValue))
                .<List<ConfigSource>>map(m -> List.of(new PropertiesConfigSource(m, "dsv2 public TLS (" + CERT + ", "
                        + KEY + ")", ORDINAL)))
                .orElse(List.of());
    }

    /**
     * The Quarkus keys for {@code dsv2.tls.*}, or empty when neither is set.
     *
     * @throws IllegalArgumentException when only one is set, or a file is missing, unreadable or not PEM
     */
    static Optional<Map<String, String>> quarkusKeys(java.util.function.Function<String, Optional<String>> config) {
        Optional<String> cert = config.apply(CERT).map(String::trim).filter(s -> !s.isEmpty());
        Optional<String> key = config.apply(KEY).map(String::trim).filter(s -> !s.isEmpty());
        if (cert.isEmpty() && key.isEmpty()) {
            return Optional.empty();
        }
        if (cert.isEmpty() || key.isEmpty()) {
            throw new IllegalArgumentException("public TLS needs both " + CERT + " and " + KEY + " (PEM files); "
                    + (cert.isEmpty() ? CERT : KEY) + " is not set");
        }
        Path certPath = Path.of(cert.get());
        Path keyPath = Path.of(key.get());
        X509Certificate leaf = PemFiles.certificates(CERT, certPath).getFirst();
        PemFiles.requireKeyOf(KEY, keyPath, PemFiles.privateKey(KEY, keyPath), CERT, certPath, leaf);
        Map<String, String> keys = new LinkedHashMap<>();
        String store = "quarkus.tls." + REGISTRY_NAME + ".key-store.pem.0.";
        keys.put(store + "cert", cert.get());
        keys.put(store + "key", key.get());
        keys.put("quarkus.http.tls-configuration-name", REGISTRY_NAME);
        keys.put("quarkus.http.insecure-requests", "disabled");
        keys.put("quarkus.http.ssl-port", "${quarkus.http.port:8080}");
        keys.put("quarkus.http.test-ssl-port", "${quarkus.http.test-port:8081}");
        keys.put("quarkus.grpc.server.ssl.certificate", cert.get());
        keys.put("quarkus.grpc.server.ssl.key", key.get());
        keys.put("quarkus.grpc.server.plain-text", "false");
        return Optional.of(keys);
    }
}
