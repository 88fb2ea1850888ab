package dev.dsv2.engine.kernel;

import java.util.Locale;
import java.util.logging.Logger;

/**
 * The one place that chooses the kernel backend: {@code scalar} forces the scalar oracle, otherwise the Vector API
 * backend. The requested name and thread count come from {@code dsv2.backend} / {@code dsv2.threads}, parsed by
 * {@link dev.dsv2.engine.serve.ServingSettings}. The choice is logged once.
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
}
