package dev.dsv2.engine.kernel;

import java.util.Locale;
import java.util.logging.Logger;

/**
 * The one place that chooses the kernel backend: {@code -Ddsv2.backend=scalar|vector} (or env {@code DSV2_BACKEND})
 * forces one, otherwise the Vector API backend; threads from {@code -Ddsv2.threads} / {@code DSV2_THREADS}
 * (default: available processors). The choice is logged once.
 */
public final class Backends {
    private static final Logger LOG = Logger.getLogger(Backends.class.getName());

    private Backends() {
    }

    public static Backend create(String requested, int threads) {
        String name = requested == null || requested.isBlank() ? "vector" : requested.toLowerCase(Locale.ROOT);
        Backend b = switch (name) {
            case "scalar" -> new ScalarBackend();
            case "vector", "cpu", "auto" -> new VectorBackend(threads);
            default -> throw new IllegalArgumentException("unknown backend '" + requested
                    + "' (expected scalar, vector or cpu)");
        };
        LOG.fine(() -> "kernel backend: " + b.name());
        return b;
    }

    /** The backend chosen by system property / environment, with the default thread count. */
    public static Backend fromEnvironment() {
        String requested = System.getProperty("dsv2.backend", System.getenv("DSV2_BACKEND"));
        String t = System.getProperty("dsv2.threads", System.getenv("DSV2_THREADS"));
        int threads = t == null || t.isBlank() ? Runtime.getRuntime().availableProcessors() : Integer.parseInt(t.trim());
        return create(requested, threads);
    }
}
