package dev.dsv2.proto.tls;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the PEM files of the TLS settings (what cert-manager writes into a {@code kubernetes.io/tls} Secret:
 * {@code tls.crt}, {@code tls.key}, {@code ca.crt}) with errors that name the configuration key and the path, so a
 * missing mount or a swapped file is reported as such at start-up rather than as a handshake failure later.
 *
 * <p>Private keys: PKCS#8 ({@code BEGIN PRIVATE KEY}, RSA, EC or Ed25519) and PKCS#1 RSA ({@code BEGIN RSA PRIVATE
 * KEY}, cert-manager's default encoding for RSA). SEC1 EC keys and encrypted keys are refused with the command that
 * converts them.
 */
public final class PemFiles {
    private static final Pattern BLOCK = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----\\s*([A-Za-z0-9+/=\\s]*?)-----END \\1-----");
    private static final String CONVERT = "convert it with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pkcs8` "
            + "(cert-manager: set privateKey.encoding: PKCS8 in the Certificate)";

    private PemFiles() {
    }

    /**
     * The X.509 certificates of a PEM file, in file order (a chain: leaf first).
     *
     * @throws IllegalArgumentException naming {@code key} and {@code path} when the file is missing, unreadable, or
     *                                  holds no valid certificate
     */
    public static List<X509Certificate> certificates(String key, Path path) {
        String text = read(key, path);
        if (!text.contains("-----BEGIN CERTIFICATE-----")) {
            throw new IllegalArgumentException(key + ": " + path + " is not a PEM certificate file (no -----BEGIN "
                    + "CERTIFICATE----- block" + hint(text) + ")");
        }
        try {
            CertificateFactory factory = CertificateFactory.getInstance("X.509");
            List<X509Certificate> certs = factory.generateCertificates(new ByteArrayInputStream(
                    text.getBytes(StandardCharsets.US_ASCII))).stream().map(c -> (X509Certificate) c).toList();
            if (certs.isEmpty()) {
                throw new IllegalArgumentException(key + ": " + path + " holds no certificate");
            }
            return certs;
        } catch (CertificateException e) {
            throw new IllegalArgumentException(key + ": " + path + " holds a certificate that cannot be parsed: "
                    + e.getMessage(), e);
        }
    }

    /**
     * The private key of a PEM file.
     *
     * @throws IllegalArgumentException naming {@code key} and {@code path} when the file is missing, unreadable, or
     *                                  holds no supported private key
     */
    public static PrivateKey privateKey(String key, Path path) {
        String text = read(key, path);
        Matcher m = BLOCK.matcher(text);
        while (m.find()) {
            String label = m.group(1);
            if (!label.endsWith("PRIVATE KEY")) {
                continue;
            }
            byte[] der;
            try {
                der = Base64.getMimeDecoder().decode(m.group(2));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(key + ": " + path + ": the " + label + " block is not valid base64");
            }
            return switch (label) {
                case "PRIVATE KEY" -> pkcs8(key, path, der);
                case "RSA PRIVATE KEY" -> pkcs8(key, path, rsaPkcs1ToPkcs8(der));
                case "EC PRIVATE KEY" -> throw new IllegalArgumentException(key + ": " + path + " holds a SEC1 "
                        + "'EC PRIVATE KEY'; only PKCS#8 keys are read: " + CONVERT);
                case "ENCRYPTED PRIVATE KEY" -> throw new IllegalArgumentException(key + ": " + path + " holds an "
                        + "encrypted private key; give the key unencrypted (a Secret protects it): " + CONVERT);
                default -> throw new IllegalArgumentException(key + ": " + path + " holds an unsupported '" + label
                        + "': " + CONVERT);
            };
        }
        throw new IllegalArgumentException(key + ": " + path + " is not a PEM private key file (no -----BEGIN "
                + "PRIVATE KEY----- block" + hint(text) + ")");
    }

    /**
     * Checks that {@code privateKey} is the key of {@code certificate} (a signature made with it verifies with the
     * certificate's public key), so a key swapped between two Secrets is reported at start-up.
     *
     * @throws IllegalArgumentException naming both keys and paths when it is not
     */
    public static void requireKeyOf(String keyName, Path keyPath, PrivateKey privateKey, String certName,
                                    Path certPath, X509Certificate certificate) {
        String algorithm = switch (privateKey.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            default -> privateKey.getAlgorithm();  // Ed25519, Ed448: the algorithm name is the signature's
        };
        byte[] probe = "dsv2 key check".getBytes(StandardCharsets.US_ASCII);
        boolean matches;
        try {
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(privateKey);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(probe);
            matches = verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            matches = false;
        }
        if (!matches) {
            throw new IllegalArgumentException(keyName + ": " + keyPath + " is not the private key of the certificate "
                    + "in " + certName + ": " + certPath + " (" + certificate.getSubjectX500Principal() + ")");
        }
    }

    private static PrivateKey pkcs8(String key, Path path, byte[] der) {
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
        for (String algorithm : List.of("RSA", "EC", "Ed25519", "Ed448")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(spec);
            } catch (GeneralSecurityException e) {
                // try the next algorithm
            }
        }
        throw new IllegalArgumentException(key + ": " + path + " holds a private key that is neither RSA, EC nor "
                + "EdDSA, or is corrupt");
    }

    /** Wraps a PKCS#1 RSAPrivateKey in a PKCS#8 PrivateKeyInfo (version 0, rsaEncryption, NULL parameters). */
    private static byte[] rsaPkcs1ToPkcs8(byte[] pkcs1) {
        byte[] version = {0x02, 0x01, 0x00};
        byte[] algorithm = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01,
                0x01, 0x01, 0x05, 0x00};
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(version);
        body.writeBytes(algorithm);
        body.writeBytes(tlv(0x04, pkcs1));
        return tlv(0x30, body.toByteArray());
    }

    private static byte[] tlv(int tag, byte[] value) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        int n = value.length;
        if (n < 0x80) {
            out.write(n);
        } else {
            int bytes = (32 - Integer.numberOfLeadingZeros(n) + 7) / 8;
            out.write(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--) {
                out.write(n >>> (8 * i));
            }
        }
        out.writeBytes(value);
        return out.toByteArray();
    }

    /** The file's text; a precise error naming the key when it is missing, a directory or unreadable. */
    static String read(String key, Path path) {
        if (!Files.exists(path)) {
            throw new IllegalArgumentException(key + ": " + path + " does not exist");
        }
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException(key + ": " + path + " is not a file");
        }
        try {
            return Files.readString(path, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw new IllegalArgumentException(key + ": " + path + " cannot be read: " + e, e);
        }
    }

    /** What the file holds instead, when it is PEM of another kind (a key given as the certificate...). */
    private static String hint(String text) {
        Matcher m = BLOCK.matcher(text);
        return m.find() ? "; it holds a '" + m.group(1) + "'" : "";
    }
}
