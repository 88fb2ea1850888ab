package dev.dsv2.router;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.model.ExpertPlacement;
import dev.dsv2.engine.model.ExpertShard;
import dev.dsv2.engine.model.PlacementPlan;
import dev.dsv2.expert.PlainExpertServer;
import dev.dsv2.expert.ServedShard;
import dev.dsv2.expert.ShardSettings;
import dev.dsv2.testsupport.TestCheckpoints;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

/**
 * Real expert shards for router tests: the expert-service's {@link PlainExpertServer} around an {@link ExpertShard}
 * of a {@code tiny} checkpoint ({@link TestCheckpoints}: 16 routed experts, 2 MoE layers), on loopback ports. Pods can be killed and restarted
 * on the same port.
 */
final class ExpertShards implements AutoCloseable {
    private final Path dir;
    private final Backend backend;
    private final List<ExpertShard> shards = new ArrayList<>();
    private final List<ServedShard> served = new ArrayList<>();
    private final List<PlainExpertServer> pods = new ArrayList<>();
    private final List<Integer> ports = new ArrayList<>();
    private final List<SimpleMeterRegistry> registries = new ArrayList<>();

    private ExpertShards(Path dir, Backend backend) {
        this.dir = dir;
        this.backend = backend;
    }

    /**
     * Starts {@code replicas[i]} pods for every shard i of {@code replicas.length}, every shard holding the shared
     * experts (contiguous expert ranges of the checkpoint in {@code dir}). Pod order: shard 0's replicas, then
     * shard 1's, ...
     */
    static ExpertShards start(Path dir, Backend backend, int... replicas) {
        int n = replicas.length;
        int experts = ModelConfig.load(dir).nRoutedExperts();
        return start(dir, backend, i -> new ExpertPlacement(i, n, experts), replicas);
    }

    /** One pod per shard of {@code plan}, each holding its experts of every layer and the shared experts. */
    static ExpertShards start(Path dir, Backend backend, PlacementPlan plan) {
        int[] one = new int[plan.shardCount()];
        java.util.Arrays.fill(one, 1);
        return start(dir, backend, plan::forShard, one);
    }

    private static ExpertShards start(Path dir, Backend backend, java.util.function.IntFunction<ExpertPlacement> placement,
                                      int... replicas) {
        ExpertShards s = new ExpertShards(dir, backend);
        int n = replicas.length;
        for (int i = 0; i < n; i++) {
            ExpertShard shard = ExpertShard.load(dir, backend, placement.apply(i), true, null);
            s.shards.add(shard);
            ShardSettings settings = ShardSettings.resolve(n, OptionalInt.of(i), OptionalInt.empty(), replicas[i], true);
            ServedShard served = ServedShard.ofLoaded(settings, shard, "tiny");
            for (int r = 0; r < replicas[i]; r++) {
                s.served.add(served);
                SimpleMeterRegistry registry = new SimpleMeterRegistry();
                s.registries.add(registry);
                PlainExpertServer pod = PlainExpertServer.start(served, "127.0.0.1", 0, 1, registry);
                s.pods.add(pod);
                s.ports.add(pod.port());
            }
        }
        return s;
    }

    List<String> addresses() {
        return ports.stream().map(p -> "127.0.0.1:" + p).toList();
    }

    int port(int pod) {
        return ports.get(pod);
    }

    /** ComputeStreams routers opened on pod {@code pod} (since it first started; restarts count on). */
    double streamsOpened(int pod) {
        return registries.get(pod).get("dsv2.expert.compute.streams").counter().count();
    }

    /** Stops pod {@code pod} at once (connections dropped, calls in flight fail). */
    void kill(int pod) {
        pods.get(pod).close();
    }

    /** Starts pod {@code pod} again on its old port. */
    void restart(int pod) {
        pods.set(pod, PlainExpertServer.start(served.get(pod), "127.0.0.1", ports.get(pod), 1,
                registries.get(pod)));
    }

    @Override
    public void close() {
        pods.forEach(PlainExpertServer::close);
        shards.forEach(ExpertShard::close);
    }
}
