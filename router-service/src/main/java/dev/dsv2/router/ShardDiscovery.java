package dev.dsv2.router;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.proto.internal.v1.ShardInfo;
import dev.dsv2.proto.tls.InternalTls;
import io.grpc.StatusRuntimeException;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;
import java.util.stream.Collectors;

/**
 * Finds out which expert pod serves which shard. A background thread asks every endpoint for its {@code ShardInfo}
 * (retrying with backoff, up to {@code maxBackoff} between rounds) until each of the {@code N} shard indices has at
 * least one ready, compatible pod; until then {@link #topology()} is null, and {@link #missing()} says what is
 * missing (also logged every 10 s). Replicas that answer later join the rotation: the {@link ShardTopology} is
 * rebuilt, keeping each shard's round-robin counter. A pod that contradicts the model or the pods already known is
 * rejected with the reason in its state and one log line.
 */
final class ShardDiscovery implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ShardDiscovery.class.getName());
    private static final Duration INFO_TIMEOUT = Duration.ofSeconds(5);
    private static final long LOG_EVERY_NANOS = TimeUnit.SECONDS.toNanos(10);

    private final ModelConfig config;
    private final List<ShardEndpoint> endpoints;
    private final boolean sharedOnShards;
    private final Duration maxBackoff;
    private final AtomicInteger[] roundRobin;
    private final Thread thread;
    private volatile ShardTopology topology;
    private volatile String missing = "no expert shard has answered yet";
    private volatile boolean closed;

    private ShardDiscovery(ModelConfig config, List<ShardEndpoint> endpoints, boolean sharedOnShards,
                           Duration maxBackoff) {
        this.config = config;
        this.endpoints = endpoints;
        this.sharedOnShards = sharedOnShards;
        this.maxBackoff = maxBackoff;
        this.roundRobin = new AtomicInteger[config.nRoutedExperts()]; // one per shard index; N <= E
        for (int i = 0; i < roundRobin.length; i++) {
            roundRobin[i] = new AtomicInteger();
        }
        this.thread = Thread.ofPlatform().name("dsv2-expert-discovery").daemon().unstarted(this::discover);
    }

    /**
     * Starts discovering the pods at {@code addresses} ({@code host:port}, every pod of every shard).
     *
     * @throws IllegalArgumentException for an empty list, or a malformed or duplicate address
     */
    static ShardDiscovery start(ModelConfig config, List<String> addresses, boolean sharedOnShards,
                                Duration maxBackoff, Optional<InternalTls> tls) {
        List<String> cleaned = addresses.stream().map(String::trim).filter(a -> !a.isEmpty()).toList();
        if (cleaned.isEmpty()) {
            throw new IllegalArgumentException("dsv2.router.experts (DSV2_ROUTER_EXPERTS) is empty: list host:port of"
                    + " every expert pod, comma-separated");
        }
        if (cleaned.stream().distinct().count() != cleaned.size()) {
            throw new IllegalArgumentException("dsv2.router.experts (DSV2_ROUTER_EXPERTS) lists an address twice: "
                    + cleaned);
        }
        List<ShardEndpoint> endpoints = cleaned.stream().map(a -> ShardEndpoint.parse(a, tls)).toList();
        ShardDiscovery d = new ShardDiscovery(config, endpoints, sharedOnShards, maxBackoff);
        d.thread.start();
        return d;
    }

    /** The pods' assignment once every shard index has a ready pod, else null. */
    ShardTopology topology() {
        return topology;
    }

    /** Why there is no topology yet (meaningful while {@link #topology()} is null). */
    String missing() {
        return missing;
    }

    boolean ready() {
        return topology != null;
    }

    /** Waits up to {@code timeout} for {@link #ready()}. */
    boolean awaitReady(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!ready() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        return ready();
    }

    /** Known pods, missing shards, pods not answering: for readiness and logs. */
    String status() {
        ShardTopology t = topology;
        String pods = endpoints.stream().map(e -> e.address() + " (" + e.state() + ")")
                .collect(Collectors.joining(", "));
        if (t != null) {
            return "all " + t.shardCount + " expert shards known; pods: " + pods;
        }
        return missing + "; pods: " + pods;
    }

    private void discover() {
        long backoffMs = 50;
        long lastLog = System.nanoTime() - LOG_EVERY_NANOS;
        while (!closed) {
            boolean progress = false;
            for (ShardEndpoint e : endpoints) {
                if (e.info() != null || closed) {
                    continue;
                }
                progress |= ask(e);
            }
            ShardTopology.Attempt attempt = ShardTopology.build(config, endpoints, sharedOnShards, roundRobin);
            if (attempt.topology() != null) {
                boolean first = topology == null;
                topology = attempt.topology();
                if (first || progress) {
                    LOG.info("expert shards ready: " + status());
                }
            } else {
                missing = attempt.missing();
                if (System.nanoTime() - lastLog >= LOG_EVERY_NANOS) {
                    lastLog = System.nanoTime();
                    LOG.info("waiting for expert shards: " + status());
                }
            }
            if (endpoints.stream().allMatch(e -> e.info() != null)) {
                return;
            }
            try {
                Thread.sleep(backoffMs);
            } catch (InterruptedException ex) {
                return;
            }
            backoffMs = progress ? 50 : Math.min(backoffMs * 2, maxBackoff.toMillis());
        }
    }

    /** Asks one pod for its ShardInfo; returns true when it joined. */
    private boolean ask(ShardEndpoint e) {
        ShardInfo info;
        try {
            info = e.fetchInfo(INFO_TIMEOUT);
        } catch (StatusRuntimeException ex) {
            e.setState(ShardEndpoint.describe(ex.getStatus()));
            return false;
        }
        if (!info.getReady()) {
            e.setState("shard " + info.getShardIndex() + "/" + info.getShardCount() + " loading");
            return false;
        }
        String bad = ShardTopology.incompatibility(config, info, endpoints);
        if (bad != null) {
            String was = e.state();
            e.setState("rejected: " + bad);
            if (!was.equals(e.state())) {
                LOG.severe("expert pod " + e.address() + " is not usable: " + bad);
            }
            return false;
        }
        e.accept(info);
        return true;
    }

    /** Stops discovering and closes every pod's channel. */
    @Override
    public void close() {
        closed = true;
        thread.interrupt();
        endpoints.forEach(ShardEndpoint::close);
    }
}
