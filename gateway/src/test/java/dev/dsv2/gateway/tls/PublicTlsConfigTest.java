package dev.dsv2.gateway.tls;

import dev.dsv2.testsupport.TestCertificates;
import dev.dsv2.testsupport.TestCertificates.Identity;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The mapping of {@code dsv2.tls.cert/key} onto Quarkus' keys, and its errors. */
class PublicTlsConfigTest {
    private static final Path DIR = Path.of("target", "tls-config-test").toAbsolutePath();

    private static Optional<Map<String, String>> keys(Map<String, String> config) {
        return PublicTlsConfig.quarkusKeys(k -> Optional.ofNullable(config.get(k)));
    }

    @Test
    void nothingSetLeavesQuarkusAlone() {
        assertEquals(Optional.empty(), keys(Map.of()));
        assertEquals(Optional.empty(), keys(Map.of("dsv2.tls.cert", " ", "dsv2.tls.key", "")));
    }

    @Test
    void bothSetMapOntoTheTlsRegistryTheHttpsPortAndTheGrpcServer() {
        Identity id = TestCertificates.authority(DIR, "ca").issue("gateway", "DNS:localhost");
        Map<String, String> k = keys(Map.of("dsv2.tls.cert", id.cert().toString(), "dsv2.tls.key",
                id.key().toString())).orElseThrow();
        assertEquals(id.cert().toString(), k.get("quarkus.tls.dsv2-public.key-store.pem.0.cert"));
        assertEquals(id.key().toString(), k.get("quarkus.tls.dsv2-public.key-store.pem.0.key"));
        assertEquals("dsv2-public", k.get("quarkus.http.tls-configuration-name"));
        assertEquals("disabled", k.get("quarkus.http.insecure-requests"));
        assertEquals("${quarkus.http.port:8080}", k.get("quarkus.http.ssl-port"));
        assertEquals(id.cert().toString(), k.get("quarkus.grpc.server.ssl.certificate"));
        assertEquals(id.key().toString(), k.get("quarkus.grpc.server.ssl.key"));
        assertEquals("false", k.get("quarkus.grpc.server.plain-text"));
    }

    @Test
    void oneWithoutTheOtherOrAMissingFileIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> keys(Map.of("dsv2.tls.cert", "/x.crt")));
        assertEquals("public TLS needs both dsv2.tls.cert and dsv2.tls.key (PEM files); dsv2.tls.key is not set",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> keys(Map.of("dsv2.tls.cert", "/no/such.crt", "dsv2.tls.key", "/no/such.key")));
        assertEquals("dsv2.tls.cert: /no/such.crt does not exist", e.getMessage());
    }

    @Test
    void aKeyThatIsNotTheCertificatesIsNamed() {
        var ca = TestCertificates.authority(DIR, "ca2");
        Identity a = ca.issue("a", "DNS:localhost");
        Identity b = ca.issue("b", "DNS:localhost");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> keys(Map.of("dsv2.tls.cert", a.cert().toString(), "dsv2.tls.key", b.key().toString())));
        assertEquals("dsv2.tls.key: " + b.key() + " is not the private key of the certificate in dsv2.tls.cert: "
                + a.cert() + " (CN=a)", e.getMessage());
    }
}
