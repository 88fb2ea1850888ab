package dev.dsv2.expert;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.model.ExpertPlacement;
import dev.dsv2.engine.model.ExpertShard;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.util.concurrent.TimeUnit;

/**
 * The shard's Micrometer meters (Prometheus names in brackets):
 * <ul>
 *   <li>{@code dsv2.expert.request.rows{layer}} [{@code dsv2_expert_request_rows}]: rows per Compute call, per layer;</li>
 *   <li>{@code dsv2.expert.compute{layer}} [{@code dsv2_expert_compute_seconds}]: compute latency per call, per layer
 *       (decoding and encoding included, queueing excluded);</li>
 *   <li>{@code dsv2.expert.tokens{layer,expert}} [{@code dsv2_expert_tokens_total}]: rows routed to each owned
 *       expert; one series per (MoE layer, owned expert), so at most L*E series across all shards;</li>
 *   <li>{@code dsv2.expert.compute.streams} [{@code dsv2_expert_compute_streams_total}]: ComputeStreams opened (a
 *       router opens one per pod and keeps it, so this grows only when routers connect or reconnect).</li>
 * </ul>
 */
public final class ExpertMetrics {
    private final DistributionSummary[] rows;   // [layer]
    private final Timer[] latency;              // [layer]
    private final Counter[][] tokens;           // [layer][expert], null where dense / not owned
    private final Counter streams;

    public ExpertMetrics(MeterRegistry registry, ModelConfig config, ExpertPlacement placement) {
        int layers = config.numHiddenLayers();
        rows = new DistributionSummary[layers];
        latency = new Timer[layers];
        tokens = new Counter[layers][];
        streams = Counter.builder("dsv2.expert.compute.streams").description("ComputeStreams opened by routers")
                .register(registry);
        for (int l = 0; l < layers; l++) {
            if (!config.isMoeLayer(l)) {
                continue;
            }
            String layer = Integer.toString(l);
            rows[l] = DistributionSummary.builder("dsv2.expert.request.rows").baseUnit("rows").tag("layer", layer)
                    .description("Rows (tokens) per Compute call").register(registry);
            latency[l] = Timer.builder("dsv2.expert.compute").tag("layer", layer)
                    .description("Compute call latency on the shard, queueing excluded").register(registry);
            tokens[l] = new Counter[config.nRoutedExperts()];
            for (int e : placement.owned(l)) {
                tokens[l][e] = Counter.builder("dsv2.expert.tokens").tag("layer", layer)
                        .tag("expert", Integer.toString(e)).description("Rows routed to this expert")
                        .register(registry);
            }
        }
    }

    /** A router opened a ComputeStream. */
    public void streamOpened() {
        streams.increment();
    }

    /** Records one served call. */
    public void record(ComputeRequest call, long nanos) {
        int l = call.layer();
        rows[l].record(call.rows());
        latency[l].record(nanos, TimeUnit.NANOSECONDS);
        int[] perExpert = new int[tokens[l].length];
        for (int e : call.ids()) {
            if (e != ExpertShard.SKIP) {
                perExpert[e]++;
            }
        }
        for (int e = 0; e < perExpert.length; e++) {
            if (perExpert[e] > 0) {
                tokens[l][e].increment(perExpert[e]);
            }
        }
    }
}
