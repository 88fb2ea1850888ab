package dev.dsv2.gateway.guard;

import java.time.Duration;
import java.util.List;

/**
 * The gateway's protections, configured apart from the model and scheduler settings ({@code GatewaySettings}):
 * authentication, admission and fairness, cheap early rejections and the shutdown drain. Every key also works as an
 * environment variable ({@code dsv2.api-keys} = {@code DSV2_API_KEYS}).
 *
 * @param apiKeys                 {@code dsv2.api-keys} (comma list) and {@code dsv2.api-keys-file}; none = open
 * @param openPaths               {@code dsv2.auth.open-paths}: HTTP path prefixes served without a key (default
 *                                {@code /q/health,/q/metrics}); gRPC health is always open
 * @param maxSequencesPerRequest  {@code dsv2.gateway.max-sequences-per-request}: n x prompts of one request; more
 *                                is a 400 (it could never be admitted)
 * @param maxRequestTokens        {@code dsv2.gateway.max-request-tokens}: the sum over a request's sequences of
 *                                prompt + max_tokens; more is a 400
 * @param queuedSequences         {@code dsv2.gateway.max-queued-sequences}: sequences of interactive requests in
 *                                flight at once (running or waiting in the router); beyond it requests wait their
 *                                turn, round-robin between owners
 * @param ownerShare              {@code dsv2.gateway.owner-share}: the fraction of {@code queuedSequences} one owner
 *                                (API key, or client address when there are no keys) may hold, in (0, 1]
 * @param admissionWait           {@code dsv2.gateway.admission-wait}: how long a request waits for its turn before
 *                                a 429 with {@code Retry-After}
 * @param tokenizerThreads        {@code dsv2.gateway.tokenizer-threads}: the bounded pool that tokenizes HTTP
 *                                requests (off the event loop); beyond 1024 waiting, or after the admission wait, 429
 * @param drainTimeout            {@code dsv2.shutdown.drain-timeout}: on SIGTERM, how long in-flight streams may
 *                                run before they are ended with {@code finish_reason: "abort"}
 */
public record GuardSettings(ApiKeys apiKeys, List<String> openPaths, int maxSequencesPerRequest,
                            long maxRequestTokens, int queuedSequences, double ownerShare, Duration admissionWait,
                            int tokenizerThreads, Duration drainTimeout) {
    public GuardSettings {
        openPaths = List.copyOf(openPaths);
        for (String p : openPaths) {
            if (!p.startsWith("/")) {
                throw new IllegalArgumentException("dsv2.auth.open-paths: \"" + p + "\" must start with /");
            }
        }
        if (maxSequencesPerRequest < 1) {
            throw new IllegalArgumentException("dsv2.gateway.max-sequences-per-request must be >= 1, got "
                    + maxSequencesPerRequest);
        }
        if (maxRequestTokens < 1) {
            throw new IllegalArgumentException("dsv2.gateway.max-request-tokens must be >= 1, got "
                    + maxRequestTokens);
        }
        if (queuedSequences < maxSequencesPerRequest) {
            throw new IllegalArgumentException("dsv2.gateway.max-queued-sequences (" + queuedSequences
                    + ") must be >= dsv2.gateway.max-sequences-per-request (" + maxSequencesPerRequest + ")");
        }
        if (!(ownerShare > 0 && ownerShare <= 1)) {
            throw new IllegalArgumentException("dsv2.gateway.owner-share must be in (0, 1], got " + ownerShare);
        }
        if (admissionWait.isNegative()) {
            throw new IllegalArgumentException("dsv2.gateway.admission-wait must be >= 0, got " + admissionWait);
        }
        if (tokenizerThreads < 1) {
            throw new IllegalArgumentException("dsv2.gateway.tokenizer-threads must be >= 1, got "
                    + tokenizerThreads);
        }
        if (drainTimeout.isNegative()) {
            throw new IllegalArgumentException("dsv2.shutdown.drain-timeout must be >= 0, got " + drainTimeout);
        }
    }

    /** The defaults of application.properties, with no keys (tests and tools). */
    public static GuardSettings defaults() {
        return new GuardSettings(ApiKeys.none(), List.of("/q/health", "/q/metrics"), 512, 4L << 20, 2048, 0.5,
                Duration.ofSeconds(10), Math.max(2, Runtime.getRuntime().availableProcessors()),
                Duration.ofSeconds(30));
    }

    /** The most sequences one owner may hold at once. */
    public int ownerLimit() {
        return Math.max(maxSequencesPerRequest, (int) Math.floor(queuedSequences * ownerShare));
    }
}
