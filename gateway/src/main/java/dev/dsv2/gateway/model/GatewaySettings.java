package dev.dsv2.gateway.model;

import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The gateway's configuration (see the service configuration contract; every key also works as an environment
 * variable, Quarkus style: {@code dsv2.model.dir} = {@code DSV2_MODEL_DIR}).
 *
 * @param modelDir       {@code dsv2.model.dir}: HF checkpoint directory; empty = the generated demo model
 * @param modelName      {@code dsv2.model.name}: id served in /v1/models; empty = the directory name
 * @param router         {@code dsv2.gateway.router}: {@value #EMBEDDED} or {@code host:port} of a router-service
 * @param contextLimit   {@code dsv2.context-limit}: prompt + completion tokens; empty = min(max_position_embeddings, 32768)
 * @param backend        {@code dsv2.backend} (embedded mode): auto, cpu, scalar
 * @param threads        {@code dsv2.threads} (embedded mode): kernel threads
 * @param kvCacheTokens  {@code dsv2.kv-cache.tokens} (embedded mode); empty = sized from free heap
 * @param maxBatchTokens {@code dsv2.max-batch-tokens} (embedded mode): rows per scheduler step
 * @param maxRunning     {@code dsv2.max-running} (embedded mode): sequences decoding at once
 * @param maxInFlight    {@code dsv2.gateway.max-in-flight}: cap on concurrent interactive API requests (gRPC +
 *                       HTTP); 0 = no cap besides the scheduler's queue. Batch traffic has its own cap.
 * @param demoCacheDir   {@code dsv2.demo.cache-dir}: where the demo model is generated once (~/.cache/dsv2)
 * @param version        the application version, part of the demo model's directory name
 */
public record GatewaySettings(Optional<Path> modelDir, Optional<String> modelName, String router,
                              OptionalInt contextLimit, String backend, int threads, OptionalInt kvCacheTokens,
                              int maxBatchTokens, int maxRunning, int maxInFlight, Path demoCacheDir,
                              String version) {
    public static final String EMBEDDED = "embedded";

    public GatewaySettings {
        router = router == null || router.isBlank() ? EMBEDDED : router.trim();
        if (!router.equals(EMBEDDED) && !router.matches("\\S+:\\d{1,5}")) {
            throw new IllegalArgumentException("dsv2.gateway.router must be \"embedded\" or host:port, got \""
                    + router + "\"");
        }
        if (contextLimit.isPresent() && contextLimit.getAsInt() < 2) {
            throw new IllegalArgumentException("dsv2.context-limit must be >= 2, got " + contextLimit.getAsInt());
        }
        if (threads < 1) {
            throw new IllegalArgumentException("dsv2.threads must be >= 1, got " + threads);
        }
        if (kvCacheTokens.isPresent() && kvCacheTokens.getAsInt() < 1) {
            throw new IllegalArgumentException("dsv2.kv-cache.tokens must be >= 1, got " + kvCacheTokens.getAsInt());
        }
        if (maxBatchTokens < 1 || maxRunning < 1) {
            throw new IllegalArgumentException("dsv2.max-batch-tokens and dsv2.max-running must be >= 1, got "
                    + maxBatchTokens + " and " + maxRunning);
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
        return new GatewaySettings(Optional.empty(), Optional.empty(), EMBEDDED, OptionalInt.empty(), "auto",
                Runtime.getRuntime().availableProcessors(), OptionalInt.empty(), 512, 256, 0, demoCacheDir, "dev");
    }

    public GatewaySettings withModelDir(Path dir) {
        return new GatewaySettings(Optional.of(dir), modelName, router, contextLimit, backend, threads, kvCacheTokens,
                maxBatchTokens, maxRunning, maxInFlight, demoCacheDir, version);
    }

    public GatewaySettings withRouter(String router) {
        return new GatewaySettings(modelDir, modelName, router, contextLimit, backend, threads, kvCacheTokens,
                maxBatchTokens, maxRunning, maxInFlight, demoCacheDir, version);
    }

    public GatewaySettings withKvCacheTokens(int tokens) {
        return new GatewaySettings(modelDir, modelName, router, contextLimit, backend, threads, OptionalInt.of(tokens),
                maxBatchTokens, maxRunning, maxInFlight, demoCacheDir, version);
    }
}
