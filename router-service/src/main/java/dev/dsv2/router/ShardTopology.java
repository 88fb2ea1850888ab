package dev.dsv2.router;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.proto.internal.v1.LayerExperts;
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
    private final int[][][] owners; // [layer][expert] -> the shards holding it (several for a replicated hot expert)

    private ShardTopology(int shardCount, Group[] groups, int[][][] owners) {
        this.shardCount = shardCount;
        this.groups = groups;
        this.owners = owners;
    }

    /**
     * The shard that computes row {@code row}'s pair with {@code expert} in {@code layer}: its owner, or for an
     * expert several shards hold, one of them chosen by the row (so its rows are split evenly over the replicas).
     */
    int shardFor(int layer, int expert, int row) {
        int[] o = owners[layer][expert];
        return o.length == 1 ? o[0] : o[row % o.length];
    }

    /** The experts shard {@code info} holds in {@code layer}: its per-layer list, else its one list for all layers. */
    static List<Integer> held(ShardInfo info, int layer) {
        if (info.getLayersCount() == 0) {
            return info.getOwnedExpertsList();
        }
        for (LayerExperts l : info.getLayersList()) {
            if (l.getLayer() == layer) {
                return l.getExpertsList();
            }
        }
        return List.of();
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
        Group[] groups = new Group[n];
        for (int i = 0; i < n; i++) {
            groups[i] = new Group(i, n, byIndex.get(i), counters[i]);
        }
        int[][][] owners = new int[config.numHiddenLayers()][][];
        for (int l = 0; l < owners.length; l++) {
            if (!config.isMoeLayer(l)) {
                continue;
            }
            List<List<Integer>> byExpert = new ArrayList<>();
            for (int e = 0; e < config.nRoutedExperts(); e++) {
                byExpert.add(new ArrayList<>());
            }
            for (Group g : groups) {
                for (int e : held(g.replicas.getFirst().info(), l)) {
                    byExpert.get(e).add(g.index);
                }
            }
            owners[l] = new int[config.nRoutedExperts()][];
            for (int e = 0; e < owners[l].length; e++) {
                if (byExpert.get(e).isEmpty()) {
                    int layer = l;
                    return new Attempt(null, "no shard owns expert " + e + " of layer " + l + " (shards report owning "
                            + Arrays.stream(groups).map(g -> g.index + ": " + held(g.replicas.getFirst().info(), layer))
                            .collect(Collectors.joining("; ")) + ")");
                }
                owners[l][e] = byExpert.get(e).stream().mapToInt(Integer::intValue).toArray();
            }
        }
        if (sharedOnShards && Arrays.stream(groups).noneMatch(g -> g.holdsShared)) {
            return new Attempt(null, "dsv2.router.shared-experts=shards but no shard holds the shared experts"
                    + " (start the shards with dsv2.shard.shared-experts=true, or use shared-experts=local)");
        }
        return new Attempt(new ShardTopology(n, groups, owners), null);
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
        for (LayerExperts l : info.getLayersList()) {
            if (l.getLayer() < 0 || l.getLayer() >= config.numHiddenLayers() || !config.isMoeLayer(l.getLayer())) {
                return "it reports experts for layer " + l.getLayer() + ", not a MoE layer of the router's model";
            }
            for (int x : l.getExpertsList()) {
                if (x < 0 || x >= e) {
                    return "it reports owning expert " + x + " of layer " + l.getLayer() + ", outside [0, " + e + ")";
                }
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
            if ((o.getLayersCount() == 0) != (info.getLayersCount() == 0)) {
                return "it uses " + (info.getLayersCount() == 0 ? "the contiguous default placement" : "a placement file")
                        + " but " + other.address() + " uses " + (o.getLayersCount() == 0
                        ? "the contiguous default" : "a placement file") + " (start every shard with the same"
                        + " dsv2.shard.placement)";
            }
            if (o.getShardIndex() == info.getShardIndex() && !o.getLayersList().equals(info.getLayersList())) {
                return "it is shard " + info.getShardIndex() + " but its placement differs from " + other.address()
                        + "'s, the same shard (start every replica with the same dsv2.shard.placement)";
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
