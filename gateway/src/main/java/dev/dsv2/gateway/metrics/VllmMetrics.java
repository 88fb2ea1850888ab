package dev.dsv2.gateway.metrics;

import io.prometheus.client.Collector;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.Counter;
import io.prometheus.client.GaugeMetricFamily;
import io.prometheus.client.Histogram;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * The metrics autoscalers and inference gateways already read from vLLM, under their exact names (with the colon),
 * registered straight into the Prometheus registry that {@code /q/metrics} scrapes (Micrometer's naming convention
 * would turn {@code vllm:x} into {@code vllm_x}). Each carries the {@code model_name} label, like vLLM's. Buckets
 * are vLLM's. The same figures are also Micrometer meters named {@code dsv2.*} (see {@link ServingMetrics}).
 *
 * <pre>
 *   vllm:time_to_first_token_seconds   histogram  request submitted -> first generated token
 *   vllm:inter_token_latency_seconds   histogram  between consecutive tokens of one sequence
 *   vllm:e2e_request_latency_seconds   histogram  request submitted -> finished
 *   vllm:prompt_tokens_total           counter    prompt tokens of finished sequences
 *   vllm:generation_tokens_total       counter    generated tokens of finished sequences
 *   vllm:num_requests_running          gauge      sequences in the batch (embedded router)
 *   vllm:num_requests_waiting          gauge      sequences queued (embedded router)
 *   vllm:kv_cache_usage_perc           gauge      used / total KV cache blocks, 0..1 (embedded router)
 * </pre>
 */
final class VllmMetrics {
    static final String TTFT = "vllm:time_to_first_token_seconds";
    static final String ITL = "vllm:inter_token_latency_seconds";
    static final String E2E = "vllm:e2e_request_latency_seconds";
    static final String PROMPT_TOKENS = "vllm:prompt_tokens";
    static final String GENERATION_TOKENS = "vllm:generation_tokens";
    static final String RUNNING = "vllm:num_requests_running";
    static final String WAITING = "vllm:num_requests_waiting";
    static final String KV_USAGE = "vllm:kv_cache_usage_perc";
    static final String LABEL = "model_name";

    static final double[] TTFT_BUCKETS = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
            5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
    static final double[] ITL_BUCKETS = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0,
            7.5, 10.0, 20.0, 40.0, 80.0};
    static final double[] E2E_BUCKETS = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0,
            60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

    final Histogram ttft;
    final Histogram itl;
    final Histogram e2e;
    final Counter promptTokens;
    final Counter generationTokens;

    /** Scheduler figures for the gauges: running, waiting, KV usage 0..1. */
    record Load(int running, int waiting, double kvUsage) {
    }

    VllmMetrics(CollectorRegistry registry) {
        ttft = Histogram.build().name(TTFT).help("Time to first token in seconds.").labelNames(LABEL)
                .buckets(TTFT_BUCKETS).register(registry);
        itl = Histogram.build().name(ITL).help("Time between consecutive output tokens in seconds.")
                .labelNames(LABEL).buckets(ITL_BUCKETS).register(registry);
        e2e = Histogram.build().name(E2E).help("End-to-end request latency in seconds.").labelNames(LABEL)
                .buckets(E2E_BUCKETS).register(registry);
        promptTokens = Counter.build().name(PROMPT_TOKENS).help("Number of prefill tokens processed.")
                .labelNames(LABEL).register(registry);
        generationTokens = Counter.build().name(GENERATION_TOKENS).help("Number of generation tokens processed.")
                .labelNames(LABEL).register(registry);
    }

    /** Registers the scheduler gauges (embedded mode), read at scrape time. */
    static void registerLoadGauges(CollectorRegistry registry, String model, Supplier<Load> load) {
        new Collector() {
            @Override
            public List<MetricFamilySamples> collect() {
                Load l = load.get();
                List<MetricFamilySamples> out = new ArrayList<>();
                out.add(gauge(RUNNING, "Number of requests in model execution batches.", model, l.running()));
                out.add(gauge(WAITING, "Number of requests waiting to be processed.", model, l.waiting()));
                out.add(gauge(KV_USAGE, "KV-cache usage. 1 means 100 percent usage.", model, l.kvUsage()));
                return out;
            }
        }.register(registry);
    }

    private static GaugeMetricFamily gauge(String name, String help, String model, double value) {
        GaugeMetricFamily g = new GaugeMetricFamily(name, help, List.of(LABEL));
        g.addMetric(List.of(model), value);
        return g;
    }
}
