package dev.dsv2.router;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.serve.BatchScheduler;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * The router's Micrometer meters. Prometheus names (what /q/metrics shows) are given here; the {@code vllm:*} names
 * are exactly vLLM's, so autoscalers and inference gateways that read vLLM work unchanged. Micrometer's Prometheus
 * naming convention keeps ':' (legal in Prometheus metric names) and only turns '.' into '_', so registering the
 * meters under these names is enough; the router test asserts the exported names.
 *
 * <ul>
 *   <li>{@code vllm:num_requests_running}, {@code vllm:num_requests_waiting} (gauges): scheduler queue;</li>
 *   <li>{@code vllm:kv_cache_usage_perc} (gauge, 0..1 as in vLLM): used / total KV blocks;</li>
 *   <li>{@code vllm:num_preemptions_total}, {@code vllm:prompt_tokens_total} (prefill tokens computed per step,
 *       recomputation after preemption included, as vLLM counts per iteration), {@code vllm:generation_tokens_total}
 *       (counters);</li>
 *   <li>{@code vllm:time_to_first_token_seconds}, {@code vllm:inter_token_latency_seconds},
 *       {@code vllm:e2e_request_latency_seconds} (histograms, measured from the router's receipt of the request);</li>
 *   <li>{@code dsv2_router_kv_blocks_used}, {@code dsv2_router_kv_blocks_free} (gauges);</li>
 *   <li>{@code dsv2_router_step_rows} (summary: rows per scheduler step, the batch size),
 *       {@code dsv2_router_step_decode_rows}, {@code dsv2_router_step_seconds} (timer: forward pass per step);</li>
 *   <li>{@code dsv2_router_expert_rpc_seconds{shard,endpoint,code}} (timer: one Compute attempt per shard call);</li>
 *   <li>{@code dsv2_router_expert_call_phase_seconds{phase}} (timer: each answered shard call's {@link CallTimeline},
 *       phase = serialize, send, queue, compute, reply, deserialize);</li>
 *   <li>{@code dsv2_router_routed_tokens_total{layer,expert}} (counter: rows sent to each remote expert; one series
 *       per MoE layer x expert; absent when the experts are in-process, which load through the plain model loader).
 *       </li>
 * </ul>
 */
public final class RouterMetrics {
    private final MeterRegistry registry;
    private final Map<String, Timer> rpcTimers = new ConcurrentHashMap<>();
    private final DistributionSummary stepRows;
    private final DistributionSummary stepDecodeRows;
    private final Timer stepTime;
    private final Counter promptTokens;
    private final Counter generationTokens;
    private final Timer timeToFirstToken;
    private final Timer interTokenLatency;
    private final Timer e2eLatency;

    public RouterMetrics(MeterRegistry registry) {
        this.registry = registry;
        stepRows = DistributionSummary.builder("dsv2.router.step.rows").baseUnit("rows")
                .description("Rows (tokens) per scheduler step: the batch size").register(registry);
        stepDecodeRows = DistributionSummary.builder("dsv2.router.step.decode.rows").baseUnit("rows")
                .description("Decode rows per scheduler step").register(registry);
        stepTime = Timer.builder("dsv2.router.step").description("Forward pass time per scheduler step")
                .register(registry);
        promptTokens = Counter.builder("vllm:prompt_tokens").description("Prefill tokens processed")
                .register(registry);
        generationTokens = Counter.builder("vllm:generation_tokens").description("Generated tokens")
                .register(registry);
        timeToFirstToken = latency("vllm:time_to_first_token", "Time to the first generated token");
        interTokenLatency = latency("vllm:inter_token_latency", "Time between consecutive generated tokens");
        e2eLatency = latency("vllm:e2e_request_latency", "Request latency, submission to completion");
    }

    private Timer latency(String name, String description) {
        return Timer.builder(name).description(description).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(10))
                .register(registry);
    }

    /** Registers the gauges that read {@code engine}'s scheduler (0 until it is loaded). */
    public void bind(RouterEngine engine) {
        gauge("vllm:num_requests_running", engine, s -> s.running(), "Requests running on the scheduler");
        gauge("vllm:num_requests_waiting", engine, s -> s.waiting(), "Requests waiting for admission");
        gauge("vllm:kv_cache_usage_perc", engine, BatchScheduler.Stats::kvCacheUsage,
                "Fraction of KV cache blocks in use (0..1)");
        gauge("dsv2.router.kv.blocks.used", engine, s -> s.usedBlocks(), "KV cache blocks in use");
        gauge("dsv2.router.kv.blocks.free", engine, s -> s.totalBlocks() - s.usedBlocks(), "Free KV cache blocks");
        FunctionCounter.builder("vllm:num_preemptions", engine, e -> {
            BatchScheduler s = e.schedulerOrNull();
            return s == null ? 0 : s.stats().preemptions();
        }).description("Sequences preempted for lack of KV cache blocks").register(registry);
        FunctionCounter.builder("dsv2.router.split.steps", engine, e -> {
            BatchScheduler s = e.schedulerOrNull();
            return s == null ? 0 : s.stats().splitSteps();
        }).description("Scheduler steps run as two overlapped micro-batches (dsv2.micro-batches)").register(registry);
        engine.setStepObserver(this::onStep);
    }

    private void gauge(String name, RouterEngine engine, ToDoubleFunction<BatchScheduler.Stats> value,
                       String description) {
        Gauge.builder(name, engine, e -> {
            BatchScheduler s = e.schedulerOrNull();
            return s == null ? 0 : value.applyAsDouble(s.stats());
        }).description(description).register(registry);
    }

    /** Registers the per-(layer, expert) routed-token counters; call once the engine has loaded. */
    public void bindRoutedCounts(RouterEngine engine) {
        CountingExperts counts = engine.routedCounts();
        if (counts == null) {
            return;
        }
        ModelConfig c = engine.config();
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            if (!c.isMoeLayer(l)) {
                continue;
            }
            for (int e = 0; e < c.nRoutedExperts(); e++) {
                int layer = l;
                int expert = e;
                FunctionCounter.builder("dsv2.router.routed.tokens", counts, x -> x.count(layer, expert))
                        .tag("layer", Integer.toString(l)).tag("expert", Integer.toString(e))
                        .description("Rows routed to this expert").register(registry);
            }
        }
    }

    void onStep(int rows, int decodeRows, int sequences, long nanos) {
        stepRows.record(rows);
        stepDecodeRows.record(decodeRows);
        stepTime.record(nanos, TimeUnit.NANOSECONDS);
        promptTokens.increment(rows - decodeRows);
    }

    /** One Compute attempt to {@code endpoint} (shard {@code shard}) took {@code nanos} and ended with {@code code}. */
    public RemoteExperts.CallObserver callObserver() {
        Timer inFlight = Timer.builder("dsv2.router.expert.layer")
                .description("Per MoE layer and micro-batch: sending the shard calls to combining their answers")
                .register(registry);
        Timer waited = Timer.builder("dsv2.router.expert.wait")
                .description("Per MoE layer and micro-batch: time the router blocked waiting for the shards")
                .register(registry);
        Timer[] phases = new Timer[CallTimeline.PHASES.length];
        for (int i = 0; i < phases.length; i++) {
            phases[i] = Timer.builder("dsv2.router.expert.call.phase").tag("phase", CallTimeline.PHASES[i])
                    .description("Per answered shard call: time in one phase of its round trip (serialize, send, "
                            + "shard queue, shard compute, reply, deserialize)")
                    .register(registry);
        }
        return new RemoteExperts.CallObserver() {
            @Override
            public void onCall(int shard, String endpoint, long nanos, io.grpc.Status.Code code) {
                rpcTimers.computeIfAbsent(shard + "|" + endpoint + "|" + code,
                        k -> Timer.builder("dsv2.router.expert.rpc").tag("shard", Integer.toString(shard))
                                .tag("endpoint", endpoint).tag("code", code.name())
                                .description("Compute call latency per expert shard (one attempt)").register(registry))
                        .record(nanos, TimeUnit.NANOSECONDS);
            }

            @Override
            public void onCallTimeline(CallTimeline timeline) {
                for (int i = 0; i < phases.length; i++) {
                    phases[i].record(timeline.phase(i), TimeUnit.NANOSECONDS);
                }
            }

            @Override
            public void onLayer(long inFlightNanos, long waitedNanos) {
                inFlight.record(inFlightNanos, TimeUnit.NANOSECONDS);
                waited.record(waitedNanos, TimeUnit.NANOSECONDS);
            }
        };
    }

    /** A token was streamed: {@code itlNanos} since the previous one, or {@code ttftNanos} for the first (else -1). */
    void onToken(long itlNanos, long ttftNanos) {
        generationTokens.increment();
        if (ttftNanos >= 0) {
            timeToFirstToken.record(ttftNanos, TimeUnit.NANOSECONDS);
        }
        if (itlNanos >= 0) {
            interTokenLatency.record(itlNanos, TimeUnit.NANOSECONDS);
        }
    }

    void onComplete(int promptTokens, int completionTokens, long e2eNanos) {
        e2eLatency.record(e2eNanos, TimeUnit.NANOSECONDS);
    }
}
