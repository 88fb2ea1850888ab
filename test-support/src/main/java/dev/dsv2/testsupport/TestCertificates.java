package dev.dsv2.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Throwaway certificates for TLS tests, made with the system's {@code openssl} (P-256 keys, PKCS#8 PEM, valid for two
 * days) in a directory of the caller's choice under {@code target/}: a CA, and leaf certificates it signs with the
 * names given as subject alternative names and both the serverAuth and clientAuth usages (one identity serves as a
 * server and as a client certificate, as in the services' internal mTLS).
 */
public final class TestCertificates {
    /** A PEM certificate (chain) and its private key. */
    public record Identity(Path cert, Path key) {
    }

    /** A CA: its certificate (the trust anchor to configure) and key (to sign leaves). */
    public record Authority(Path dir, Path cert, Path key) {
        /**
         * A leaf signed by this CA.
         *
         * @param name file name stem and common name
         * @param sans subject alternative names in openssl's syntax, e.g. {@code DNS:localhost}, {@code IP:127.0.0.1}
         */
        public Identity issue(String name, String... sans) {
            Path key = dir.resolve(name + ".key");
            openssl(dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out",
                    key.toString());
            return sign(name, key, sans);
        }

        /** As {@link #issue}, with a 2048-bit RSA key in PKCS#1 PEM ({@code BEGIN RSA PRIVATE KEY}). */
        public Identity issueRsaPkcs1(String name, String... sans) {
            Path key = dir.resolve(name + ".key");
            openssl(dir, "genrsa", "-traditional", "-out", key.toString(), "2048");
            return sign(name, key, sans);
        }

        private Identity sign(String name, Path key, String... sans) {
            Path csr = dir.resolve(name + ".csr");
            Path crt = dir.resolve(name + ".crt");
            Path ext = dir.resolve(name + ".ext");
            try {
                Files.writeString(ext, (sans.length == 0 ? "" : "subjectAltName=" + String.join(",", sans) + "\n")
                        + "extendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            openssl(dir, "req", "-new", "-key", key.toString(), "-out", csr.toString(), "-subj", "/CN=" + name);
            openssl(dir, "x509", "-req", "-in", csr.toString(), "-CA", cert.toString(), "-CAkey", this.key.toString(),
                    "-CAcreateserial", "-days", "2", "-extfile", ext.toString(), "-out", crt.toString());
            return new Identity(crt, key);
        }
    }

    private TestCertificates() {
    }

    /** A new self-signed CA named {@code name} in {@code dir} (created if needed). */
    public static Authority authority(Path directory, String name) {
        Path dir = directory.toAbsolutePath();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Path key = dir.resolve(name + ".key");
        Path crt = dir.resolve(name + ".crt");
        openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", key.toString(), "-out", crt.toString(), "-days", "2", "-subj", "/CN=" + name,
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        return new Authority(dir, crt, key);
    }

    private static void openssl(Path dir, String... args) {
        List<String> command = new ArrayList<>();
        command.add("openssl");
        command.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException("openssl " + String.join(" ", args) + " failed: " + out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run openssl (needed to make test certificates): " + e.getMessage(),
                    e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
