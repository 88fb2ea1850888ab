package dev.dsv2.gateway.guard;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The API keys a client must present (HTTP {@code Authorization: Bearer KEY}, gRPC {@code authorization} metadata).
 * No keys configured means the server is open, as before keys existed. A key is never logged or kept as the
 * identity of its requests: the {@linkplain #owner owner} of a request is {@code key-} and the first 12 hex digits
 * of the key's SHA-256, so logs and ownership checks never carry the secret. Comparisons take the same time
 * whichever byte differs ({@link MessageDigest#isEqual}), so response timing does not leak a key's prefix.
 */
public final class ApiKeys {
    private static final String BEARER = "bearer ";
    private final List<byte[]> keys;

    private ApiKeys(List<byte[]> keys) {
        this.keys = keys;
    }

    public static ApiKeys none() {
        return new ApiKeys(List.of());
    }

    /**
     * Keys from a comma list ({@code dsv2.api-keys}, also {@code DSV2_API_KEYS}) and a file
     * ({@code dsv2.api-keys-file}: one key per line, blank lines and {@code #} comments ignored).
     *
     * @throws IllegalArgumentException when the file cannot be read or a key is unusable
     */
    public static ApiKeys of(List<String> listed, Optional<Path> file) {
        Set<String> all = new LinkedHashSet<>();
        for (String k : listed) {
            add(all, k, "dsv2.api-keys");
        }
        if (file.isPresent()) {
            List<String> lines;
            try {
                lines = Files.readAllLines(file.get(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new IllegalArgumentException("dsv2.api-keys-file " + file.get() + " cannot be read: " + e, e);
            }
            for (String line : lines) {
                String k = line.strip();
                if (!k.isEmpty() && !k.startsWith("#")) {
                    add(all, k, "dsv2.api-keys-file " + file.get());
                }
            }
        }
        List<byte[]> bytes = new ArrayList<>();
        for (String k : all) {
            bytes.add(k.getBytes(StandardCharsets.UTF_8));
        }
        return new ApiKeys(List.copyOf(bytes));
    }

    private static void add(Set<String> all, String key, String source) {
        String k = key.strip();
        if (k.isEmpty()) {
            return;
        }
        if (k.chars().anyMatch(c -> c <= ' ' || c == ',' || c >= 0x7f)) {
            throw new IllegalArgumentException(source + ": an API key must be printable ASCII without spaces or "
                    + "commas (it travels in an HTTP header)");
        }
        all.add(k);
    }

    /** Whether clients must present a key. */
    public boolean required() {
        return !keys.isEmpty();
    }

    public int count() {
        return keys.size();
    }

    /**
     * The owner of a request carrying {@code authorization} (the header or metadata value, may be null): its key's
     * owner id when the value is {@code Bearer <a configured key>}; {@link Optional#empty()} when keys are required
     * and it is not. When no keys are configured every caller is let in as {@code fallbackOwner}.
     */
    public Optional<String> authenticate(String authorization, String fallbackOwner) {
        if (keys.isEmpty()) {
            return Optional.of(fallbackOwner);
        }
        if (authorization == null || authorization.length() <= BEARER.length()
                || !authorization.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
            return Optional.empty();
        }
        byte[] given = authorization.substring(BEARER.length()).strip().getBytes(StandardCharsets.UTF_8);
        byte[] match = null;
        for (byte[] k : keys) {
            if (MessageDigest.isEqual(k, given)) {
                match = k;
            }
        }
        return match == null ? Optional.empty() : Optional.of(owner(match));
    }

    static String owner(byte[] key) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(key);
            return "key-" + HexFormat.of().formatHex(digest, 0, 6);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
