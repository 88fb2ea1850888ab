package dev.dsv2.gateway.model;

import dev.dsv2.engine.serve.ServingSettings;

import java.nio.file.Path;
import java.util.Optional;

/**
 * The gateway's configuration (see the service configuration contract; every key also works as an environment
 * variable, Quarkus style: {@code dsv2.model.dir} = {@code DSV2_MODEL_DIR}).
 *
 * @param modelDir     {@code dsv2.model.dir}: HF checkpoint directory; empty = the generated demo model
 * @param modelName    {@code dsv2.model.name}: id served in /v1/models; empty = the directory name
 * @param router       {@code dsv2.gateway.router}: {@value #EMBEDDED} or {@code host:port} of a router-service
 * @param serving      the shared serving keys ({@link ServingSettings}: backend, threads, device, weights, KV cache,
 *                     context and batch limits), parsed as in every service. With a remote router only
 *                     {@code dsv2.context-limit} matters here (request validation); the rest is the router's.
 * @param maxInFlight  {@code dsv2.gateway.max-in-flight}: cap on concurrent interactive API requests (gRPC +
 *                     HTTP); 0 = no cap besides the scheduler's queue. Batch traffic has its own cap.
 * @param demoCacheDir {@code dsv2.demo.cache-dir}: where the demo model is generated once (~/.cache/dsv2)
 * @param version      the application version, part of the demo model's directory name
 */
public record GatewaySettings(Optional<Path> modelDir, Optional<String> modelName, String router,
                              ServingSettings serving, int maxInFlight, Path demoCacheDir, String version) {
    public static final String EMBEDDED = "embedded";

    public GatewaySettings {
        router = router == null || router.isBlank() ? EMBEDDED : router.trim();
        if (!router.equals(EMBEDDED) && !router.matches("\\S+:\\d{1,5}")) {
            throw new IllegalArgumentException("dsv2.gateway.router must be \"embedded\" or host:port, got \""
                    + router + "\"");
        }
        if (serving == null) {
            throw new IllegalArgumentException("the serving settings are missing");
        }
        if (maxInFlight < 0) {
            throw new IllegalArgumentException("dsv2.gateway.max-in-flight must be >= 0 (0 = no cap), got "
                    + maxInFlight);
        }
    }

    public boolean embedded() {
        return router.equals(EMBEDDED);
    }

    /** Defaults for tests and tools: embedded, demo model, this machine's processors. */
    public static GatewaySettings defaults(Path demoCacheDir) {
        return new GatewaySettings(Optional.empty(), Optional.empty(), EMBEDDED, ServingSettings.defaults(), 0,
                demoCacheDir, "dev");
    }

    public GatewaySettings withModelDir(Path dir) {
        return new GatewaySettings(Optional.of(dir), modelName, router, serving, maxInFlight, demoCacheDir, version);
    }

    public GatewaySettings withRouter(String r) {
        return new GatewaySettings(modelDir, modelName, r, serving, maxInFlight, demoCacheDir, version);
    }

    public GatewaySettings withKvCacheTokens(int tokens) {
        return new GatewaySettings(modelDir, modelName, router, serving.withKvCacheTokens(tokens), maxInFlight,
                demoCacheDir, version);
    }
}
