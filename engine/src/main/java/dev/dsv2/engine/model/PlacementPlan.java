package dev.dsv2.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A load-balanced expert -> shard placement, per MoE layer, in the manner of DeepSeek's EPLB: from the tokens each
 * routed expert received (the router's {@code dsv2_router_routed_tokens_total{layer,expert}}), the hottest experts
 * get extra replicas (one at a time, always to the expert with the most tokens per replica), and the replicas are then
 * packed onto the shards heaviest first, each onto the least-loaded shard that has a free slot and not yet a copy of
 * that expert. Every shard gets the same number of slots, {@code ceil((E + R) / N)}.
 *
 * <pre>
 *   shards[layer][shard]  the experts shard `shard` holds in MoE layer `layer` (ascending); null for dense layers
 *   load[layer][shard]    the tokens the plan expects that shard to get in that layer (a replicated expert's tokens
 *                         split evenly over its replicas, as the router splits its rows)
 * </pre>
 *
 * <p>Written and read as JSON ({@link #write}, {@link #read}): {@code {"format": "dsv2-expert-placement/1",
 * "num_experts": E, "shard_count": N, "layers": [{"layer": l, "shards": [[e, ...], ...], "load": [..]}, ...]}}.
 * Shards load it with {@code dsv2.shard.placement=FILE} ({@link #forShard}); the router learns it from their Info.
 */
public record PlacementPlan(int numExperts, int shardCount, int[][][] shards, double[][] load) {
    public static final String FORMAT = "dsv2-expert-placement/1";
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Balances {@code tokens[layer][expert]} (null rows for dense layers) over {@code shardCount} shards with
     * {@code extraReplicas} replicas of hot experts per layer.
     *
     * @throws IllegalArgumentException for a shard count outside [1, E + extraReplicas], negative replicas, more
     *                                  replicas than fit (each expert at most once per shard), or negative counts
     */
    public static PlacementPlan balance(long[][] tokens, int numExperts, int shardCount, int extraReplicas) {
        if (extraReplicas < 0) {
            throw new IllegalArgumentException("replicas: " + extraReplicas + " must be >= 0");
        }
        if (shardCount < 1 || shardCount > numExperts + extraReplicas) {
            throw new IllegalArgumentException("shards: " + shardCount + " must be in [1, " + (numExperts
                    + extraReplicas) + "] for " + numExperts + " experts and " + extraReplicas + " extra replicas");
        }
        if (extraReplicas > numExperts * (shardCount - 1)) {
            throw new IllegalArgumentException("replicas: " + extraReplicas + " extra replicas do not fit: each of the "
                    + numExperts + " experts can have at most " + (shardCount - 1) + " more on " + shardCount
                    + " shards");
        }
        int[][][] plan = new int[tokens.length][][];
        double[][] load = new double[tokens.length][];
        for (int l = 0; l < tokens.length; l++) {
            if (tokens[l] == null) {
                continue;
            }
            if (tokens[l].length != numExperts) {
                throw new IllegalArgumentException("layer " + l + ": token counts for " + tokens[l].length
                        + " experts, expected " + numExperts);
            }
            load[l] = new double[shardCount];
            plan[l] = balanceLayer(tokens[l], shardCount, extraReplicas, load[l], l);
        }
        return new PlacementPlan(numExperts, shardCount, plan, load);
    }

    private static int[][] balanceLayer(long[] tokens, int n, int extra, double[] load, int layer) {
        int e = tokens.length;
        int[] copies = new int[e];
        Arrays.fill(copies, 1);
        for (int x = 0; x < e; x++) {
            if (tokens[x] < 0) {
                throw new IllegalArgumentException("layer " + layer + ", expert " + x + ": negative token count "
                        + tokens[x]);
            }
        }
        // Replicate: each extra replica to the expert with the most tokens per replica that can take one more.
        for (int r = 0; r < extra; r++) {
            int best = -1;
            for (int x = 0; x < e; x++) {
                if (copies[x] < n && (best < 0 || (double) tokens[x] / copies[x] > (double) tokens[best] / copies[best])) {
                    best = x;
                }
            }
            copies[best]++;
        }
        int slots = (e + extra + n - 1) / n;
        // Pack: replicas heaviest first (ties: lower expert id), each onto the least-loaded shard with room.
        List<double[]> items = new ArrayList<>(); // {per-replica load, expert}
        for (int x = 0; x < e; x++) {
            for (int c = 0; c < copies[x]; c++) {
                items.add(new double[]{(double) tokens[x] / copies[x], x});
            }
        }
        items.sort((a, b) -> a[0] != b[0] ? Double.compare(b[0], a[0]) : Double.compare(a[1], b[1]));
        List<List<Integer>> held = new ArrayList<>();
        for (int s = 0; s < n; s++) {
            held.add(new ArrayList<>());
        }
        for (double[] item : items) {
            int x = (int) item[1];
            int target = -1;
            for (int s = 0; s < n; s++) {
                if (held.get(s).size() < slots && !held.get(s).contains(x)
                        && (target < 0 || load[s] < load[target])) {
                    target = s;
                }
            }
            if (target < 0) {
                throw new IllegalStateException("layer " + layer + ": no shard can take a replica of expert " + x);
            }
            held.get(target).add(x);
            load[target] += item[0];
        }
        int[][] out = new int[n][];
        for (int s = 0; s < n; s++) {
            out[s] = held.get(s).stream().mapToInt(Integer::intValue).sorted().toArray();
        }
        return out;
    }

    /** The experts shard {@code shard} holds in every layer ({@code [layer][]}, null for dense layers). */
    public ExpertPlacement forShard(int shard) {
        if (shard < 0 || shard >= shardCount) {
            throw new IllegalArgumentException("shard index " + shard + " is outside the placement's [0, " + shardCount
                    + ")");
        }
        int[][] owned = new int[shards.length][];
        for (int l = 0; l < shards.length; l++) {
            owned[l] = shards[l] == null ? null : shards[l][shard];
        }
        return ExpertPlacement.planned(shard, shardCount, numExperts, owned);
    }

    /** max / mean shard load of layer {@code l}: 1.0 is perfect balance. */
    public double imbalance(int l) {
        double max = Arrays.stream(load[l]).max().orElse(0);
        double mean = Arrays.stream(load[l]).average().orElse(0);
        return mean == 0 ? 1 : max / mean;
    }

    public void write(Path file) {
        ObjectNode o = JSON.createObjectNode();
        o.put("format", FORMAT);
        o.put("num_experts", numExperts);
        o.put("shard_count", shardCount);
        ArrayNode layers = o.putArray("layers");
        for (int l = 0; l < shards.length; l++) {
            if (shards[l] == null) {
                continue;
            }
            ObjectNode layer = layers.addObject();
            layer.put("layer", l);
            ArrayNode s = layer.putArray("shards");
            for (int[] experts : shards[l]) {
                ArrayNode a = s.addArray();
                Arrays.stream(experts).forEach(a::add);
            }
            ArrayNode ld = layer.putArray("load");
            Arrays.stream(load[l]).forEach(ld::add);
        }
        try {
            Files.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(o) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the placement to " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Reads a plan written by {@link #write} for a model of {@code numLayers} layers and {@code numExperts} experts.
     *
     * @throws IllegalArgumentException naming the file and what is wrong: not JSON, another format, another expert
     *                                  count, a layer out of range, an expert out of range or held twice by a shard,
     *                                  an expert no shard holds
     */
    public static PlacementPlan read(Path file, int numLayers, int numExperts) {
        JsonNode o;
        try {
            o = JSON.readTree(Files.readString(file));
        } catch (IOException e) {
            throw new IllegalArgumentException("placement " + file + ": cannot read it as JSON: " + e.getMessage(), e);
        }
        if (!FORMAT.equals(o.path("format").asText())) {
            throw new IllegalArgumentException("placement " + file + ": format is '" + o.path("format").asText()
                    + "', expected '" + FORMAT + "' (write one with ./dsv2 placement)");
        }
        if (o.path("num_experts").asInt() != numExperts) {
            throw new IllegalArgumentException("placement " + file + ": it is for " + o.path("num_experts").asInt()
                    + " routed experts, the model has " + numExperts);
        }
        int n = o.path("shard_count").asInt();
        int[][][] shards = new int[numLayers][][];
        double[][] load = new double[numLayers][];
        for (JsonNode layer : o.path("layers")) {
            int l = layer.path("layer").asInt(-1);
            if (l < 0 || l >= numLayers) {
                throw new IllegalArgumentException("placement " + file + ": layer " + l + " is outside [0, "
                        + numLayers + ")");
            }
            if (layer.path("shards").size() != n) {
                throw new IllegalArgumentException("placement " + file + ": layer " + l + " lists "
                        + layer.path("shards").size() + " shards, shard_count is " + n);
            }
            shards[l] = new int[n][];
            load[l] = new double[n];
            boolean[] held = new boolean[numExperts];
            for (int s = 0; s < n; s++) {
                JsonNode list = layer.path("shards").get(s);
                shards[l][s] = new int[list.size()];
                boolean[] here = new boolean[numExperts];
                for (int i = 0; i < list.size(); i++) {
                    int x = list.get(i).asInt(-1);
                    if (x < 0 || x >= numExperts || here[x]) {
                        throw new IllegalArgumentException("placement " + file + ": layer " + l + ", shard " + s
                                + ": expert " + list.get(i) + " is outside [0, " + numExperts + ") or listed twice");
                    }
                    here[x] = true;
                    held[x] = true;
                    shards[l][s][i] = x;
                }
                Arrays.sort(shards[l][s]);
                load[l][s] = layer.path("load").path(s).asDouble(0);
            }
            for (int x = 0; x < numExperts; x++) {
                if (!held[x]) {
                    throw new IllegalArgumentException("placement " + file + ": layer " + l + ": no shard holds expert "
                            + x);
                }
            }
        }
        return new PlacementPlan(numExperts, n, shards, load);
    }
}
