package dev.dsv2.router;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.proto.internal.v1.ShardInfo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

/**
 * Which pod serves which experts, once every shard has answered: {@code N} shard groups (the replicas of one shard
 * index) and the owner shard of every routed expert. Immutable; the router rebuilds it as more replicas answer.
 */
final class ShardTopology {

    /** The replicas of one shard index; calls go round-robin over the healthy ones first. */
    static final class Group {
        final int index;
        final int count;
        final List<ShardEndpoint> replicas;
        final boolean holdsShared;
        private final AtomicInteger next;

        Group(int index, int count, List<ShardEndpoint> replicas, AtomicInteger next) {
            this.index = index;
            this.count = count;
            this.replicas = List.copyOf(replicas);
            this.holdsShared = replicas.stream().allMatch(r -> r.info().getHoldsShared());
            this.next = next;
        }

        /** The replicas in the order to try them: round-robin, healthy before recently failed. */
        List<ShardEndpoint> attemptOrder() {
            int n = replicas.size();
            int start = Math.floorMod(next.getAndIncrement(), n);
            List<ShardEndpoint> order = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                order.add(replicas.get((start + i) % n));
            }
            order.sort((a, b) -> Boolean.compare(!a.healthy(), !b.healthy()));
            return order;
        }

        String label() {
            return "expert shard " + index + "/" + count;
        }

        String addresses() {
            return replicas.stream().map(ShardEndpoint::address).collect(Collectors.joining(", "));
        }
    }

    final int shardCount;
    final Group[] groups;
    final int[] ownerOfExpert; // [E]

    private ShardTopology(int shardCount, Group[] groups, int[] ownerOfExpert) {
        this.shardCount = shardCount;
        this.groups = groups;
        this.ownerOfExpert = ownerOfExpert;
    }

    /** The result of trying to build a topology: either one, or why not yet (for logs and readiness). */
    record Attempt(ShardTopology topology, String missing) {
    }

    /**
     * Builds the topology from the endpoints that answered ready, or explains what is still missing.
     *
     * @param counters round-robin counters per shard index, kept across rebuilds
     */
    static Attempt build(ModelConfig config, List<ShardEndpoint> endpoints, boolean sharedOnShards,
                         AtomicInteger[] counters) {
        List<ShardEndpoint> known = endpoints.stream().filter(e -> e.info() != null).toList();
        if (known.isEmpty()) {
            return new Attempt(null, "no expert shard has answered yet");
        }
        int n = known.getFirst().info().getShardCount();
        List<List<ShardEndpoint>> byIndex = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byIndex.add(new ArrayList<>());
        }
        for (ShardEndpoint e : known) {
            byIndex.get(e.info().getShardIndex()).add(e);
        }
        List<Integer> missing = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (byIndex.get(i).isEmpty()) {
                missing.add(i);
            }
        }
        if (!missing.isEmpty()) {
            return new Attempt(null, "missing expert shard" + (missing.size() > 1 ? "s " : " ")
                    + missing.stream().map(i -> i + "/" + n).collect(Collectors.joining(", ")));
        }
        int[] owner = new int[config.nRoutedExperts()];
        Arrays.fill(owner, -1);
        Group[] groups = new Group[n];
        for (int i = 0; i < n; i++) {
            groups[i] = new Group(i, n, byIndex.get(i), counters[i]);
            for (int e : groups[i].replicas.getFirst().info().getOwnedExpertsList()) {
                owner[e] = i;
            }
        }
        for (int e = 0; e < owner.length; e++) {
            if (owner[e] < 0) {
                return new Attempt(null, "no shard owns expert " + e + " (shards report owning "
                        + Arrays.stream(groups).map(g -> g.index + ": " + g.replicas.getFirst().info()
                        .getOwnedExpertsList()).collect(Collectors.joining("; ")) + ")");
            }
        }
        if (sharedOnShards && Arrays.stream(groups).noneMatch(g -> g.holdsShared)) {
            return new Attempt(null, "dsv2.router.shared-experts=shards but no shard holds the shared experts"
                    + " (start the shards with dsv2.shard.shared-experts=true, or use shared-experts=local)");
        }
        return new Attempt(new ShardTopology(n, groups, owner), null);
    }

    /**
     * Checks that {@code info} fits the model and the shards already known; returns why not, or null.
     */
    static String incompatibility(ModelConfig config, ShardInfo info, List<ShardEndpoint> endpoints) {
        if (info.getHiddenSize() != config.hiddenSize() || info.getNumLayers() != config.numHiddenLayers()) {
            return "it serves a model with hidden_size " + info.getHiddenSize() + " and " + info.getNumLayers()
                    + " layers, the router's has " + config.hiddenSize() + " and " + config.numHiddenLayers();
        }
        int e = config.nRoutedExperts();
        if (info.getShardCount() < 1 || info.getShardCount() > e || info.getShardIndex() < 0
                || info.getShardIndex() >= info.getShardCount()) {
            return "it reports shard " + info.getShardIndex() + "/" + info.getShardCount() + ", impossible for "
                    + e + " routed experts";
        }
        for (int x : info.getOwnedExpertsList()) {
            if (x < 0 || x >= e) {
                return "it reports owning expert " + x + ", outside [0, " + e + ")";
            }
        }
        for (ShardEndpoint other : endpoints) {
            ShardInfo o = other.info();
            if (o == null) {
                continue;
            }
            if (o.getShardCount() != info.getShardCount()) {
                return "it reports " + info.getShardCount() + " shards but " + other.address() + " reports "
                        + o.getShardCount();
            }
            if (o.getShardIndex() == info.getShardIndex()
                    && !o.getOwnedExpertsList().equals(info.getOwnedExpertsList())) {
                return "it is shard " + info.getShardIndex() + " owning " + info.getOwnedExpertsList() + " but "
                        + other.address() + ", the same shard, owns " + o.getOwnedExpertsList();
            }
            if (o.getShardIndex() != info.getShardIndex()) {
                for (int x : info.getOwnedExpertsList()) {
                    if (o.getOwnedExpertsList().contains(x)) {
                        return "it claims expert " + x + ", which " + other.address() + " (shard "
                                + o.getShardIndex() + ") owns";
                    }
                }
            }
        }
        return null;
    }

    /** The group that adds the shared experts for {@code layer}: rotates over the groups that hold them. */
    Group sharedGroup(int layer) {
        int n = groups.length;
        for (int i = 0; i < n; i++) {
            Group g = groups[(layer + i) % n];
            if (g.holdsShared) {
                return g;
            }
        }
        throw new IllegalStateException("no shard holds the shared experts");
    }

    int endpointCount() {
        return Arrays.stream(groups).mapToInt(g -> g.replicas.size()).sum();
    }
}
