package dev.dsv2.gateway.metrics;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.serve.BatchScheduler;
import dev.dsv2.gateway.core.ServingObserver;
import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.gateway.router.EmbeddedRouter;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheus.PrometheusMeterRegistry;
import io.prometheus.client.CollectorRegistry;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The gateway's metrics, recorded twice: as Micrometer meters named {@code dsv2.*} (Prometheus: {@code dsv2_*}, and
 * any other Micrometer backend) and, on the Prometheus registry, under vLLM's exact names ({@link VllmMetrics}).
 *
 * <table>
 *   <caption>Metric names</caption>
 *   <tr><th>vLLM name</th><th>dsv2 equivalent (Prometheus)</th></tr>
 *   <tr><td>vllm:time_to_first_token_seconds</td><td>dsv2_time_to_first_token_seconds</td></tr>
 *   <tr><td>vllm:inter_token_latency_seconds</td><td>dsv2_inter_token_latency_seconds</td></tr>
 *   <tr><td>vllm:e2e_request_latency_seconds</td><td>dsv2_e2e_request_latency_seconds</td></tr>
 *   <tr><td>vllm:prompt_tokens_total</td><td>dsv2_prompt_tokens_total</td></tr>
 *   <tr><td>vllm:generation_tokens_total</td><td>dsv2_generation_tokens_total</td></tr>
 *   <tr><td>vllm:num_requests_running</td><td>dsv2_requests_running</td></tr>
 *   <tr><td>vllm:num_requests_waiting</td><td>dsv2_requests_waiting</td></tr>
 *   <tr><td>vllm:kv_cache_usage_perc</td><td>dsv2_kv_cache_usage_ratio</td></tr>
 * </table>
 * Besides: {@code dsv2_requests_total{api,outcome}} per API request, and in embedded mode
 * {@code dsv2_batch_rows} / {@code dsv2_batch_sequences} (per scheduler step), {@code dsv2_step_seconds},
 * {@code dsv2_kv_blocks_used} / {@code dsv2_kv_blocks_free}.
 */
public final class ServingMetrics implements ServingObserver {
    private final MeterRegistry registry;
    private final Optional<CollectorRegistry> prometheus;
    private final ModelHost host;
    private final VllmMetrics vllm;
    private final Timer ttft;
    private final Timer itl;
    private final Timer e2e;
    private final Counter promptTokens;
    private final Counter generationTokens;

    /** @param prometheus the Prometheus registry behind {@code /q/metrics}; empty: only the dsv2 meters */
    public ServingMetrics(MeterRegistry registry, Optional<PrometheusMeterRegistry> prometheus, ModelHost host) {
        this.registry = registry;
        this.prometheus = prometheus.map(PrometheusMeterRegistry::getPrometheusRegistry);
        this.host = host;
        this.vllm = this.prometheus.map(VllmMetrics::new).orElse(null);
        this.ttft = latency("dsv2.time.to.first.token", "Time to first token", VllmMetrics.TTFT_BUCKETS);
        this.itl = latency("dsv2.inter.token.latency", "Time between consecutive output tokens",
                VllmMetrics.ITL_BUCKETS);
        this.e2e = latency("dsv2.e2e.request.latency", "End-to-end latency of a sequence", VllmMetrics.E2E_BUCKETS);
        this.promptTokens = Counter.builder("dsv2.prompt.tokens").description("Prompt tokens of finished sequences")
                .register(registry);
        this.generationTokens = Counter.builder("dsv2.generation.tokens")
                .description("Generated tokens of finished sequences").register(registry);
        host.onReady(this::modelReady);
    }

    private Timer latency(String name, String description, double[] bucketsSeconds) {
        Duration[] slos = new Duration[bucketsSeconds.length];
        for (int i = 0; i < slos.length; i++) {
            slos[i] = Duration.ofNanos((long) (bucketsSeconds[i] * 1e9));
        }
        return Timer.builder(name).description(description).serviceLevelObjectives(slos).register(registry);
    }

    /** Embedded mode: the scheduler's gauges and per-step figures. */
    private void modelReady(ServedModel model) {
        if (!(model.router() instanceof EmbeddedRouter router)) {
            return;
        }
        Gauge.builder("dsv2.requests.running", router, r -> r.stats().running())
                .description("Sequences in the running batch").register(registry);
        Gauge.builder("dsv2.requests.waiting", router, r -> r.stats().waiting())
                .description("Sequences waiting for admission").register(registry);
        Gauge.builder("dsv2.kv.cache.usage", router, r -> r.stats().kvCacheUsage()).baseUnit("ratio")
                .description("Used share of the latent KV cache blocks, 0..1").register(registry);
        Gauge.builder("dsv2.kv.blocks.used", router, r -> r.stats().usedBlocks())
                .description("KV cache blocks in use").register(registry);
        Gauge.builder("dsv2.kv.blocks.free", router, r -> r.stats().totalBlocks() - r.stats().usedBlocks())
                .description("KV cache blocks free").register(registry);
        DistributionSummary rows = DistributionSummary.builder("dsv2.batch.rows")
                .description("Rows (decode + prefill tokens) per scheduler step").register(registry);
        DistributionSummary sequences = DistributionSummary.builder("dsv2.batch.sequences")
                .description("Sequences per scheduler step").register(registry);
        Timer step = Timer.builder("dsv2.step").description("Forward pass wall time per scheduler step")
                .register(registry);
        router.setStepObserver((r, decodeRows, seqs, nanos) -> {
            rows.record(r);
            sequences.record(seqs);
            step.record(nanos, TimeUnit.NANOSECONDS);
        });
        prometheus.ifPresent(p -> VllmMetrics.registerLoadGauges(p, model.name(), () -> {
            BatchScheduler.Stats s = router.stats();
            return new VllmMetrics.Load(s.running(), s.waiting(), s.kvCacheUsage());
        }));
    }

    @Override
    public void request(String api, Outcome outcome) {
        registry.counter("dsv2.requests", "api", api, "outcome", outcome.label()).increment();
    }

    @Override
    public SequenceTimeline sequenceStarted(String api) {
        String model = host.ifReady().map(ServedModel::name).orElse("");
        long start = System.nanoTime();
        return new SequenceTimeline() {
            private long last;

            @Override
            public void token() {
                long now = System.nanoTime();
                if (last == 0) {
                    ttft.record(now - start, TimeUnit.NANOSECONDS);
                    if (vllm != null) {
                        vllm.ttft.labels(model).observe((now - start) / 1e9);
                    }
                } else {
                    itl.record(now - last, TimeUnit.NANOSECONDS);
                    if (vllm != null) {
                        vllm.itl.labels(model).observe((now - last) / 1e9);
                    }
                }
                last = now;
            }

            @Override
            public void finished(FinishReason reason, int prompt, int completion) {
                long nanos = System.nanoTime() - start;
                e2e.record(nanos, TimeUnit.NANOSECONDS);
                promptTokens.increment(prompt);
                generationTokens.increment(completion);
                if (vllm != null) {
                    vllm.e2e.labels(model).observe(nanos / 1e9);
                    vllm.promptTokens.labels(model).inc(prompt);
                    vllm.generationTokens.labels(model).inc(completion);
                }
            }

            @Override
            public void failed() {
            }
        };
    }
}
