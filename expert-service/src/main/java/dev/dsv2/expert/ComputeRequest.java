package dev.dsv2.expert;

import dev.dsv2.engine.model.ExpertPlacement;
import dev.dsv2.engine.model.ExpertShard;
import dev.dsv2.engine.serve.ExpertWire;
import dev.dsv2.proto.internal.v1.ExpertRequest;

/**
 * One {@code Compute} call, decoded and checked against the shard that serves it.
 *
 * <pre>
 *   x        [rows, hidden]  float32 (decoded from BF16 / F16 / F32)
 *   ids      [rows, topK]    owned expert ids, or -1 for pairs owned by other shards
 *   weights  [rows, topK]
 * </pre>
 * {@code output} is the format the partial sums are answered in.
 */
public record ComputeRequest(int layer, float[] x, int rows, int[] ids, float[] weights, int topK,
                             boolean includeShared, long step, ExpertWire output) {

    /**
     * Decodes and validates {@code req}.
     *
     * @throws IllegalArgumentException naming the offending field and value and what was expected: an unknown or
     *                                  dense layer, a bad hidden tensor, ids/weights of the wrong length, an expert
     *                                  this shard does not own, include_shared on a shard without shared experts,
     *                                  an output_dtype other than F32 or BF16
     */
    public static ComputeRequest of(ExpertRequest req, ExpertShard shard) {
        int layer = req.getLayer();
        int layers = shard.config().numHiddenLayers();
        if (layer < 0 || layer >= layers) {
            throw new IllegalArgumentException("layer: " + layer + " is not a layer of this model (it has " + layers
                    + " layers; MoE layers: " + shard.moeLayers() + ")");
        }
        if (!shard.isMoeLayer(layer)) {
            throw new IllegalArgumentException("layer: " + layer + " is a dense layer, not a MoE layer (MoE layers: "
                    + shard.moeLayers() + ")");
        }
        int hidden = shard.config().hiddenSize();
        if (!req.hasHidden()) {
            throw new IllegalArgumentException("hidden: missing (expected a [rows, " + hidden + "] tensor)");
        }
        float[] x = WireTensors.decodeMatrix(req.getHidden(), "hidden", hidden);
        int rows = (int) req.getHidden().getShape(0);
        int numExperts = shard.config().nRoutedExperts();
        int topK = req.getTopK();
        if (topK < 1 || topK > numExperts) {
            throw new IllegalArgumentException("top_k: " + topK + " must be in [1, " + numExperts
                    + "] (the model's num_experts_per_tok is " + shard.config().numExpertsPerTok() + ")");
        }
        long pairs = (long) rows * topK;
        if (req.getExpertIdsCount() != pairs) {
            throw new IllegalArgumentException("expert_ids: " + req.getExpertIdsCount() + " entries, expected rows * "
                    + "top_k = " + rows + " * " + topK + " = " + pairs);
        }
        if (req.getExpertWeightsCount() != pairs) {
            throw new IllegalArgumentException("expert_weights: " + req.getExpertWeightsCount()
                    + " entries, expected rows * top_k = " + rows + " * " + topK + " = " + pairs);
        }
        ExpertPlacement placement = shard.placement();
        int[] ids = new int[(int) pairs];
        float[] weights = new float[(int) pairs];
        for (int i = 0; i < pairs; i++) {
            int e = req.getExpertIds(i);
            if (e != ExpertShard.SKIP) {
                if (e < 0 || e >= numExperts) {
                    throw new IllegalArgumentException("expert_ids[" + i + "]: " + e + " is outside [0, " + numExperts
                            + ") (use -1 for a pair another shard owns)");
                }
                if (!placement.owns(layer, e)) {
                    throw new IllegalArgumentException("expert_ids[" + i + "]: expert " + e + " is not owned by "
                            + placement + "; send it to the shard that owns it, or -1 to skip the pair");
                }
            }
            float w = req.getExpertWeights(i);
            if (!Float.isFinite(w)) {
                throw new IllegalArgumentException("expert_weights[" + i + "]: " + w + " is not a finite number");
            }
            ids[i] = e;
            weights[i] = w;
        }
        if (req.getIncludeShared() && shard.shared(layer) == null) {
            throw new IllegalArgumentException("include_shared: " + placement + " does not hold the shared experts"
                    + " (start it with dsv2.shard.shared-experts=true, or run them on the router)");
        }
        ExpertWire output = WireTensors.outputFormat(req.getOutputDtype());
        return new ComputeRequest(layer, x, rows, ids, weights, topK, req.getIncludeShared(), req.getStep(), output);
    }
}
