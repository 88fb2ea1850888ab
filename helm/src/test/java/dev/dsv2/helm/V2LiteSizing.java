package dev.dsv2.helm;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Memory of the router and of each expert shard for a DeepSeek-V2 checkpoint, computed from its shapes; prints the
 * sizing table of the README for DeepSeek-V2-Lite at 1, 2, 4 and 8 shards.
 *
 * <p>Run: {@code ./mvnw -q -pl helm test-compile && java -cp helm/target/test-classes dev.dsv2.helm.V2LiteSizing}
 *
 * <p>Tensors (HF names, {@code [rows, cols]}), all bf16:
 * <pre>
 *   embed_tokens, lm_head                  [vocab, hidden]                          once each
 *   per layer (27):
 *     q_proj                               [heads * (nope + rope), hidden]          no q LoRA in Lite
 *     kv_a_proj_with_mqa                   [kvLoraRank + rope, hidden]
 *     kv_a_layernorm                       [kvLoraRank]
 *     kv_b_proj                            [heads * (nope + v), kvLoraRank]
 *     o_proj                               [hidden, heads * v]
 *     input_layernorm, post_attention_ln   [hidden] each
 *   layer 0: dense SwiGLU gate/up/down     3 x [denseIntermediate, hidden]
 *   layers 1..26 (MoE):
 *     gate                                 [routedExperts, hidden]
 *     routed expert e: gate/up/down        3 x [moeIntermediate, hidden]            64 of them
 *     shared experts (2, fused)            3 x [sharedExperts * moeIntermediate, hidden]
 *   norm                                   [hidden]
 * </pre>
 * The router holds everything but the routed experts (the shared experts too when they run beside attention, the
 * default placement); a shard holds routedExperts / shards experts of every MoE layer (plus a copy of the shared
 * experts when they run on the shards). The latent KV cache holds, per token and layer, the normalised latent
 * (kvLoraRank) and the rotated k_pe (rope) as 4-byte floats.
 *
 * @param layers            decoder layers (27)
 * @param hidden            hidden size (2048)
 * @param vocab             vocabulary (102400)
 * @param heads             attention heads (16)
 * @param kvLoraRank        latent dims of the KV compression (512)
 * @param ropeDim           shared rope dims of q/k (64)
 * @param nopeDim           per-head non-rope q/k dims (128)
 * @param vDim              per-head value dims (128)
 * @param denseLayers       leading dense layers (1)
 * @param denseIntermediate dense MLP width (10944)
 * @param routedExperts     routed experts per MoE layer (64)
 * @param moeIntermediate   width of one expert (1408)
 * @param sharedExperts     shared experts per MoE layer (2)
 * @param weightBytes       bytes per weight (bf16: 2)
 * @param kvBytes           bytes per cached value (f32: 4)
 */
record V2LiteSizing(int layers, int hidden, int vocab, int heads, int kvLoraRank, int ropeDim, int nopeDim, int vDim,
                    int denseLayers, int denseIntermediate, int routedExperts, int moeIntermediate, int sharedExperts,
                    int weightBytes, int kvBytes) {

    /** DeepSeek-V2-Lite(-Chat), from its config.json. */
    static final V2LiteSizing V2_LITE = new V2LiteSizing(27, 2048, 102400, 16, 512, 64, 128, 128, 1, 10944, 64, 1408, 2, 2, 4);

    static final long GIB = 1L << 30;

    int moeLayers() {
        return layers - denseLayers;
    }

    /** embed_tokens + lm_head. */
    long embeddingParams() {
        return 2L * vocab * hidden;
    }

    /** Attention projections and the layer's two norms plus the kv_a norm, for one layer. */
    long attentionParamsPerLayer() {
        long qProj = (long) heads * (nopeDim + ropeDim) * hidden;
        long kvA = (long) (kvLoraRank + ropeDim) * hidden;
        long kvB = (long) heads * (nopeDim + vDim) * kvLoraRank;
        long oProj = (long) hidden * heads * vDim;
        long norms = kvLoraRank + 2L * hidden;
        return qProj + kvA + kvB + oProj + norms;
    }

    long denseMlpParams() {
        return denseLayers * 3L * denseIntermediate * hidden;
    }

    /** One routed expert of one layer: gate, up and down projections. */
    long paramsPerExpert() {
        return 3L * moeIntermediate * hidden;
    }

    long routedExpertParams() {
        return moeLayers() * routedExperts * paramsPerExpert();
    }

    long sharedExpertParams() {
        return moeLayers() * 3L * sharedExperts * moeIntermediate * hidden;
    }

    long gateParams() {
        return (long) moeLayers() * routedExperts * hidden;
    }

    long totalParams() {
        return embeddingParams() + layers * attentionParamsPerLayer() + denseMlpParams() + routedExpertParams()
                + sharedExpertParams() + gateParams() + hidden;
    }

    /** Everything but the routed experts; without the shared experts when they run on the shards. */
    long routerParams(boolean sharedExpertsLocal) {
        long params = totalParams() - routedExpertParams();
        return sharedExpertsLocal ? params : params - sharedExpertParams();
    }

    /** One shard's routed experts of every MoE layer, plus a copy of the shared experts when they run on the shards. */
    long shardParams(int shards, boolean sharedExpertsOnShards) {
        if (shards < 1 || routedExperts % shards != 0) {
            throw new IllegalArgumentException("shards must divide the " + routedExperts + " routed experts, got " + shards);
        }
        long params = routedExpertParams() / shards;
        return sharedExpertsOnShards ? params + sharedExpertParams() : params;
    }

    /** Latent KV cache per token: every layer's latent and k_pe. */
    long kvCacheBytesPerToken() {
        return (long) layers * (kvLoraRank + ropeDim) * kvBytes;
    }

    long bytes(long params) {
        return params * weightBytes;
    }

    /** The README's table: weights in GiB per placement of the shared experts, for each shard count. */
    String table(int... shardCounts) {
        List<String> lines = new ArrayList<>();
        lines.add("| shards | router weights (shared experts local) | each expert shard | router weights (shared experts on shards) | each expert shard |");
        lines.add("|---:|---:|---:|---:|---:|");
        for (int shards : shardCounts) {
            lines.add(String.format(Locale.ROOT, "| %d | %s | %s | %s | %s |", shards,
                    gib(bytes(routerParams(true))), gib(bytes(shardParams(shards, false))),
                    gib(bytes(routerParams(false))), gib(bytes(shardParams(shards, true)))));
        }
        return String.join("\n", lines);
    }

    /** Latent KV cache size for a few token budgets. */
    String kvCacheTable(int... tokenCounts) {
        List<String> lines = new ArrayList<>();
        lines.add("| KV cache tokens | router memory for the latent KV cache |");
        lines.add("|---:|---:|");
        for (int tokens : tokenCounts) {
            lines.add(String.format(Locale.ROOT, "| %,d | %s |", tokens, gib(tokens * kvCacheBytesPerToken())));
        }
        return String.join("\n", lines);
    }

    static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.2f GiB", (double) bytes / GIB);
    }

    public static void main(String[] args) {
        V2LiteSizing model = V2_LITE;
        System.out.printf(Locale.ROOT, "DeepSeek-V2-Lite: %,d parameters (%.2fB); routed experts %,d (%.1f%%), everything else %,d%n",
                model.totalParams(), model.totalParams() / 1e9, model.routedExpertParams(),
                100.0 * model.routedExpertParams() / model.totalParams(), model.routerParams(true));
        System.out.printf(Locale.ROOT, "bf16 checkpoint: %s; one routed expert of one layer: %.1f MiB%n%n",
                gib(model.bytes(model.totalParams())), model.bytes(model.paramsPerExpert()) / (double) (1 << 20));
        System.out.println(model.table(1, 2, 4, 8));
        System.out.printf(Locale.ROOT, "%nLatent KV cache: %,d bytes (%.2f KiB) per token%n%n",
                model.kvCacheBytesPerToken(), model.kvCacheBytesPerToken() / 1024.0);
        System.out.println(model.kvCacheTable(8192, 32768, 131072, 262144));
    }
}
