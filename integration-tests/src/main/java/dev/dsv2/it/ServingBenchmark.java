package dev.dsv2.it;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.serve.ExpertWire;
import dev.dsv2.engine.serve.MicroBatches;
import dev.dsv2.proto.v1.GenerateChunk;
import dev.dsv2.proto.v1.GenerateRequest;
import dev.dsv2.proto.v1.InferenceGrpc;
import dev.dsv2.proto.v1.TokenIds;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * {@code ./dsv2 bench-serving}: aggregate decode throughput of the served system at concurrency 1, 8 and 32, for the
 * embedded all-in-one server versus a gateway + router + 2 expert shards on loopback, all driven through the public
 * gRPC API as a client would; and, for the distributed run, the share of the router's step time spent in expert
 * RPCs (in flight, and blocked waiting — the part not hidden behind other work), read from the router's metrics, and
 * where a shard call's round trip goes (serialize, send, shard queue, shard compute, reply, deserialize: the router's
 * {@code dsv2_router_expert_call_phase_seconds{phase}}, mean per call).
 *
 * <p>Usage: {@code bench-serving [--model DIR | --preset NAME] [--tokens N] [--prompt-tokens N] [--wire bf16|f32]
 * [--json]}; {@code --wire} is the router's {@code dsv2.expert-wire} (activations to and from the shards, default
 * bf16). {@code --round-trip [--rows N] [--calls N]} measures the expert wire alone ({@link ExpertRoundTrip}).
 */
public final class ServingBenchmark {
    private static final int[] DEFAULT_CONCURRENCY = {1, 8, 32};
    /**
     * dsv2.threads of the distributed run's router (0 = the process default: all cores) and of each shard (0 =
     * {@link #coLocatedShardThreads}).
     */
    private static int routerThreads;
    private static int shardThreads;
    /** Seconds of load before the first measured level, per mode (JIT of four JVMs, connections, auto's timings). */
    private static double warmupSeconds = 20;
    /** The distributed run's router dsv2.micro-batches; null = the router's default (auto). */
    private static MicroBatches microBatches;
    private static final int SHARDS = 2;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The router's expert-call timeline phases (dsv2_router_expert_call_phase_seconds{phase}), in order. */
    static final String[] PHASES = {"serialize", "send", "queue", "compute", "reply", "deserialize"};

    /**
     * @param timelineMicros mean microseconds per answered shard call in each of {@link #PHASES} (empty when embedded)
     * @param layerMicros    mean microseconds per MoE layer and micro-batch from sending to combining (NaN embedded)
     * @param shardLoad      max / mean (row, expert) pairs computed per shard during the level (NaN embedded)
     * @param splitShare     the router's steps run as two micro-batches, of all its steps (NaN embedded)
     * @param stepMillis     mean wall time of a scheduler step's forward pass in the process running the scheduler
     *                       (the gateway embedded, the router distributed), in ms
     * @param stepShare      those steps' summed wall time over the level's: what is left is serving work between
     *                       steps (scheduling, streaming, the client's share of the CPUs)
     * @param round          which of the {@code --rounds} this level belongs to (1-based)
     */
    record Level(String mode, int concurrency, int tokens, double seconds, double expertInFlightShare,
                 double expertWaitShare, Map<String, Double> timelineMicros, double layerMicros, double shardLoad,
                 double splitShare, double stepMillis, double stepShare, int round) {
        double tokensPerSecond() {
            return tokens / seconds;
        }

        Level inRound(int r) {
            return new Level(mode, concurrency, tokens, seconds, expertInFlightShare, expertWaitShare, timelineMicros,
                    layerMicros, shardLoad, splitShare, stepMillis, stepShare, r);
        }
    }

    public static void main(String[] args) throws Exception {
        Path model = null;
        String preset = "lite-layers:2";
        int tokens = 32;
        int promptTokens = 16;
        boolean json = false;
        double requestRate = 0;
        int numPrompts = 0;
        ExpertWire wire = ExpertWire.BF16;
        boolean roundTrip = false;
        int rows = 1;
        int calls = 2000;
        int[] concurrency = DEFAULT_CONCURRENCY;
        int rounds = 1;
        List<String> modes = null;
        for (int i = 0; i < args.length; i++) {
            int flag = i;
            try {
                switch (args[i]) {
                    case "--round-trip" -> roundTrip = true;
                    case "--router-threads" -> routerThreads = positiveList(args, ++i, "--router-threads")[0];
                    case "--shard-threads" -> shardThreads = positiveList(args, ++i, "--shard-threads")[0];
                    case "--concurrency" -> concurrency = positiveList(args, ++i, "--concurrency");
                    case "--rounds" -> rounds = positiveList(args, ++i, "--rounds")[0];
                    case "--modes" -> modes = i + 1 < args.length ? List.of(args[++i].split(",")) : List.of();
                    case "--warmup-seconds" -> warmupSeconds = Double.parseDouble(args[++i]);
                    case "--rows" -> rows = Integer.parseInt(args[++i]);
                    case "--calls" -> calls = Integer.parseInt(args[++i]);
                    case "--wire" -> {
                        try {
                            wire = ExpertWire.parse(args[++i]);
                        } catch (IllegalArgumentException | ArrayIndexOutOfBoundsException e) {
                            System.err.println("bench-serving: --wire: " + (e instanceof IllegalArgumentException
                                    ? e.getMessage() : "needs a value (bf16 or f32)"));
                            System.exit(2);
                        }
                    }
                    case "--micro-batches" -> {
                        try {
                            microBatches = MicroBatches.parse(i + 1 < args.length ? args[++i] : null);
                        } catch (IllegalArgumentException e) {
                            System.err.println("bench-serving: --micro-batches: " + e.getMessage());
                            System.exit(2);
                        }
                    }
                    case "--request-rate" -> requestRate = Double.parseDouble(args[++i]);
                    case "--num-prompts" -> numPrompts = Integer.parseInt(args[++i]);
                    case "--model" -> model = Path.of(args[++i]).toAbsolutePath();
                    case "--preset" -> preset = args[++i];
                    case "--tokens" -> tokens = Integer.parseInt(args[++i]);
                    case "--prompt-tokens" -> promptTokens = Integer.parseInt(args[++i]);
                    case "--json" -> json = true;
                    case "-h", "--help" -> {
                        System.out.println("Usage: ./dsv2 bench-serving [--model DIR | --preset NAME (default lite-layers:2)]"
                                + " [--tokens N (32)] [--prompt-tokens N (16)] [--request-rate R --num-prompts N]"
                                + " [--wire bf16|f32 (bf16)] [--concurrency C,.. (1,8,32)] [--modes embedded,distributed]"
                                + " [--router-threads N (all cores)] [--shard-threads N (cores / 2)]"
                                + " [--micro-batches auto|1|2]"
                                + " [--warmup-seconds S (20)] [--rounds N (1)]"
                                + " [--round-trip [--rows N] [--calls N]] [--json]\n"
                                + "Decode tokens/s at concurrency 1, 8, 32: embedded vs gateway + router + 2 expert shards"
                                + " on loopback, the router's step time share spent in expert RPCs and where a shard call's"
                                + " time goes.\nWith --request-rate R --num-prompts N: open loop instead, N requests"
                                + " arriving as a Poisson process of rate R/s, prompt and output lengths drawn from a fixed"
                                + " seed around --prompt-tokens and --tokens; TTFT and inter-token latency p50/p90/p99,"
                                + " tokens/s and failed requests.\n--wire: the format of the activations between router and"
                                + " shards (dsv2.expert-wire): bf16 halves the bytes, f32 gives the embedded tokens exactly."
                                + "\n--micro-batches: the router's dsv2.micro-batches (auto measures split and unsplit"
                                + " steps and runs the faster; 1 never splits; 2 always does)."
                                + "\n--warmup-seconds: load before the first measured level of each mode (JIT, auto's"
                                + " timings; default 20, 0 = one short pass).\n--rounds N: the modes N times in turn"
                                + " (embedded, distributed, embedded, ...), fresh processes each time, and the"
                                + " distributed/embedded ratio per round and its median (a VM's speed moves between"
                                + " runs)."
                                + "\nWith --round-trip [--rows N (1)] [--calls N (2000)]: the expert wire alone, 2 shard"
                                + " processes driven by this process as a router, one layer at a time: per-layer round trip"
                                + " with and without the shard compute and each call's phases, p50/p90/p99.");
                        return;
                    }
                    default -> {
                        System.err.println("bench-serving: unknown argument " + args[i] + " (see --help)");
                        System.exit(2);
                    }
                }
            } catch (NumberFormatException | ArrayIndexOutOfBoundsException e) {
                System.err.println("bench-serving: " + args[flag] + (flag + 1 < args.length
                        ? " needs a number, got '" + args[flag + 1] + "'" : " needs a value") + " (see --help)");
                System.exit(2);
            }
        }
        if (warmupSeconds < 0) {
            System.err.println("bench-serving: --warmup-seconds must be >= 0, got " + warmupSeconds);
            System.exit(2);
        }
        if (model == null) {
            model = presetModel(preset);
        }
        if (roundTrip) {
            ExpertRoundTrip.run(model, wire, rows, calls, json, System.out);
            return;
        }
        int vocab = ModelConfig.load(model).vocabSize();
        String distributed = "router+2-shards-" + wire;
        System.err.println("bench-serving: distributed runs use a " + wire + " expert wire");
        if (requestRate > 0 || numPrompts > 0) {
            OpenLoopLoad load = new OpenLoopLoad(requestRate, numPrompts, promptTokens, tokens, 7);
            System.err.println("bench-serving: " + load);
            List<OpenLoopLoad.Result> open = new ArrayList<>();
            int warmPrompt = promptTokens;
            for (String mode : List.of("embedded", distributed)) {
                open.add(withServices(mode, model, wire, (channel, engine, router, shards) -> {
                    warmUp(mode, InferenceGrpc.newBlockingStub(channel), DEFAULT_CONCURRENCY, warmPrompt, vocab);
                    return load.run(mode, InferenceGrpc.newStub(channel), vocab);
                }));
            }
            OpenLoopLoad.report(model, open, json, System.out);
            return;
        }
        List<String> order = modes == null ? List.of("embedded", "distributed") : modes;
        for (String m : order) {
            if (!m.equals("embedded") && !m.equals("distributed")) {
                System.err.println("bench-serving: --modes: unknown mode '" + m
                        + "' (expected embedded and/or distributed)");
                System.exit(2);
            }
        }
        List<Level> results = new ArrayList<>();
        for (int round = 1; round <= rounds; round++) {
            for (String m : order) {
                String mode = m.equals("embedded") ? "embedded" : distributed;
                for (Level l : run(mode, model, wire, vocab, tokens, promptTokens, concurrency)) {
                    results.add(l.inRound(round));
                }
            }
        }
        report(model, results, json);
    }

    /** A comma-separated list of positive integers, or exit 2 naming the flag. */
    private static int[] positiveList(String[] args, int i, String flag) {
        try {
            int[] v = java.util.Arrays.stream(args[i].split(",")).mapToInt(x -> Integer.parseInt(x.trim())).toArray();
            if (v.length == 0 || java.util.Arrays.stream(v).anyMatch(x -> x < 1)) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException | ArrayIndexOutOfBoundsException e) {
            System.err.println("bench-serving: " + flag + " needs positive integers separated by commas"
                    + (i < args.length ? ", got '" + args[i] + "'" : ""));
            System.exit(2);
            return null;
        }
    }

    /** A random checkpoint of the preset with the demo tokenizer (the gateway tokenizes), cached between runs. */
    static Path presetModel(String preset) {
        Path dir = Path.of(System.getProperty("user.home"), ".cache", "dsv2",
                "bench-serving-" + preset.replace(':', '-'));
        if (!Files.exists(dir.resolve("tokenizer.json"))) {
            Path tokenizer = ServiceProcess.ROOT.resolve("gateway/src/main/resources/dev/dsv2/gateway/demo-tokenizer");
            RandomCheckpointWriter.TokenizerInfo tok = RandomCheckpointWriter.readTokenizerInfo(tokenizer);
            ModelConfig c = ModelPresets.withVocab(ModelPresets.preset(preset), tok.vocabSize(), tok.bosId(),
                    tok.eosId());
            RandomCheckpointWriter.write(c, dir, 1, line -> System.err.println("bench-serving: " + line));
            RandomCheckpointWriter.copyTokenizer(tokenizer, dir);
        }
        return dir;
    }

    /**
     * What runs against a started system: its public gRPC API, the process running the scheduler (the gateway when
     * embedded, else the router), the router process (null when embedded) and the expert shard processes (empty when
     * embedded).
     */
    @FunctionalInterface
    interface Workload<T> {
        T run(ManagedChannel gateway, ServiceProcess engine, ServiceProcess router, List<ServiceProcess> shards)
                throws Exception;
    }

    static List<Level> run(String mode, Path model, ExpertWire wire, int vocab, int tokens, int promptTokens,
                           int[] concurrency) throws Exception {
        return withServices(mode, model, wire, (channel, engine, router, shards) -> {
            InferenceGrpc.InferenceBlockingStub stub = InferenceGrpc.newBlockingStub(channel);
            warmUp(mode, stub, concurrency, promptTokens, vocab);
            List<Level> levels = new ArrayList<>();
            for (int c : concurrency) {
                levels.add(level(mode, stub, engine, router, shards, c, vocab, tokens, promptTokens));
            }
            return levels;
        });
    }

    /**
     * Starts {@code mode} (embedded, or router + 2 shards with {@code wire} between them) on {@code model}, runs
     * {@code workload}, stops it all.
     */
    static <T> T withServices(String mode, Path model, ExpertWire wire, Workload<T> workload) throws Exception {
        System.err.println("bench-serving: starting " + mode + " on " + model);
        List<ServiceProcess> procs = new ArrayList<>();
        List<String> jvm = List.of("-Xmx3g");
        ServiceProcess router = null;
        List<ServiceProcess> shards = new ArrayList<>();
        try {
            Map<String, String> gatewayProps = new LinkedHashMap<>(Map.of("dsv2.model.dir", model.toString(),
                    "dsv2.kv-cache.tokens", "16384", "dsv2.gateway.max-in-flight", "0"));
            if (mode.equals("embedded")) {
                gatewayProps.put("dsv2.gateway.router", "embedded");
            } else {
                // The router keeps all cores (its attention and lm_head run while the shards wait, and the other way
                // round); the shards, which compute at the same time, split the cores (coLocatedShardThreads).
                // --router-threads / --shard-threads pin them instead (co-location experiments).
                int perShard = shardThreads > 0 ? shardThreads : coLocatedShardThreads(SHARDS);
                System.err.println("bench-serving: router at " + (routerThreads > 0 ? routerThreads + "" : "all")
                        + " kernel threads, each of " + SHARDS + " shards at " + perShard);
                for (int i = 0; i < SHARDS; i++) {
                    Map<String, String> props = new LinkedHashMap<>(Map.of("dsv2.model.dir", model.toString(),
                            "dsv2.shard.index", "" + i, "dsv2.shard.count", "" + SHARDS,
                            "dsv2.threads", "" + perShard));
                    procs.add(ServiceProcess.start("bench-expert-" + i, "expert-service", props, jvm));
                }
                shards.addAll(procs);
                for (ServiceProcess p : procs) {
                    p.awaitReady(Duration.ofMinutes(10));
                }
                Map<String, String> routerProps = new LinkedHashMap<>(Map.of("dsv2.model.dir", model.toString(),
                        "dsv2.kv-cache.tokens", "16384",
                        "dsv2.router.experts", procs.get(0).grpcAddress() + "," + procs.get(1).grpcAddress(),
                        "dsv2.expert-wire", wire.label()));
                if (microBatches != null) {
                    routerProps.put("dsv2.micro-batches", microBatches.label());
                }
                if (routerThreads > 0) {
                    routerProps.put("dsv2.threads", "" + routerThreads);
                }
                router = ServiceProcess.start("bench-router", "router-service", routerProps, jvm);
                procs.add(router);
                router.awaitReady(Duration.ofMinutes(10));
                gatewayProps.put("dsv2.gateway.router", router.grpcAddress());
            }
            ServiceProcess gateway = ServiceProcess.start("bench-gateway-" + mode, "gateway", gatewayProps, jvm);
            procs.add(gateway);
            gateway.awaitReady(Duration.ofMinutes(10));
            ManagedChannel channel = ManagedChannelBuilder.forTarget(gateway.grpcAddress()).usePlaintext().build();
            try {
                return workload.run(channel, router == null ? gateway : router, router, shards);
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        } finally {
            for (ServiceProcess p : procs) {
                p.close();
            }
        }
    }

    /**
     * Kernel threads per expert shard when {@code shards} shards share this host's cores: the cores split between
     * them (at least 1 each). Two shards at two threads each on 2 vCPUs (four kernel threads computing at once) lost
     * to one each in four of four paired bench-serving levels (session 13: concurrency 1 12.3 / 17.9 -> 16.0 / 19.2
     * tok/s, 32 63.2 / 81.2 -> 67.1 / 92.5; the expert round trip without compute p50 1663 -> 1257 us).
     */
    static int coLocatedShardThreads(int shards) {
        return Math.max(1, Runtime.getRuntime().availableProcessors() / shards);
    }

    /**
     * The scheduler's forward steps between two scrapes of the process running it: their mean wall time and their
     * summed seconds (over a level's wall time: the share of it spent in steps, the rest being serving work between
     * them). The timer is the gateway's {@code dsv2_step_seconds} when embedded, the router's
     * {@code dsv2_router_step_seconds} when distributed (the gateway then times nothing of the forward pass).
     */
    record Steps(double meanMillis, double seconds) {
        static Steps between(Map<String, Double> before, Map<String, Double> after, boolean distributed) {
            String timer = distributed ? "dsv2_router_step_seconds" : "dsv2_step_seconds";
            double seconds = delta(before, after, timer + "_sum");
            return new Steps(1e3 * seconds / delta(before, after, timer + "_count"), seconds);
        }
    }

    /**
     * One closed-loop level: {@code c} streams at once, the scheduler's step times in {@code engine} and the router's
     * expert-call figures meanwhile.
     */
    static Level level(String mode, InferenceGrpc.InferenceBlockingStub stub, ServiceProcess engine,
                       ServiceProcess router, List<ServiceProcess> shards, int c, int vocab, int tokens,
                       int promptTokens) throws Exception {
        Map<String, Double> before = router == null ? Map.of() : routerTimes(router);
        Map<String, Double> engineBefore = PrometheusText.sumsByName(engine.metrics());
        double[] shardBefore = shardPairs(shards);
        long t0 = System.nanoTime();
        int generated = load(stub, c, tokens, promptTokens, vocab, c);
        double seconds = (System.nanoTime() - t0) / 1e9;
        Steps steps = Steps.between(engineBefore, PrometheusText.sumsByName(engine.metrics()), router != null);
        double inFlight = Double.NaN;
        double waited = Double.NaN;
        double layerMicros = Double.NaN;
        double splitShare = Double.NaN;
        Map<String, Double> timeline = new LinkedHashMap<>();
        if (router != null) {
            Map<String, Double> after = routerTimes(router);
            double step = delta(before, after, "dsv2_router_step_seconds_sum");
            double layerSum = delta(before, after, "dsv2_router_expert_layer_seconds_sum");
            inFlight = layerSum / step;
            waited = delta(before, after, "dsv2_router_expert_wait_seconds_sum") / step;
            layerMicros = 1e6 * layerSum / delta(before, after, "dsv2_router_expert_layer_seconds_count");
            splitShare = delta(before, after, "dsv2_router_split_steps_total")
                    / delta(before, after, "dsv2_router_step_seconds_count");
            for (String phase : PHASES) {
                String key = "dsv2_router_expert_call_phase_seconds_%s{phase=\"" + phase + "\"}";
                timeline.put(phase, 1e6 * delta(before, after, key.formatted("sum"))
                        / delta(before, after, key.formatted("count")));
            }
        }
        double[] shardAfter = shardPairs(shards);
        double max = 0;
        double sum = 0;
        for (int i = 0; i < shardAfter.length; i++) {
            double pairs = shardAfter[i] - shardBefore[i];
            max = Math.max(max, pairs);
            sum += pairs;
        }
        double shardLoad = shards.isEmpty() || sum == 0 ? Double.NaN : max / (sum / shards.size());
        Level l = new Level(mode, c, generated, seconds, inFlight, waited, timeline, layerMicros, shardLoad,
                splitShare, steps.meanMillis(), steps.seconds() / seconds, 1);
        System.err.printf("bench-serving: %s concurrency %d: %.1f tokens/s (steps %.1f ms, %.0f%% of the time)%n", mode,
                c, l.tokensPerSecond(), l.stepMillis(), 100 * l.stepShare());
        return l;
    }

    /**
     * Load before measuring, for {@link #warmupSeconds} (at least one pass): rounds of 16 tokens at each of
     * {@code streams} in turn, so every process's JIT has compiled the decode paths of the batch sizes to be measured
     * (a 2-vCPU host needs tens of seconds for four JVMs; a level measured during compilation reads 15-30% slow) and
     * the router's {@code dsv2.micro-batches=auto} has timed its choices for them.
     */
    static void warmUp(String mode, InferenceGrpc.InferenceBlockingStub stub, int[] streams, int promptTokens,
                       int vocab) throws Exception {
        System.err.printf("bench-serving: warming up %s for %.0f s%n", mode, warmupSeconds);
        long end = System.nanoTime() + (long) (warmupSeconds * 1e9);
        int round = 0;
        do {
            load(stub, streams[round % streams.length], 16, promptTokens, vocab, 99 + round);
            round++;
        } while (System.nanoTime() < end);
    }

    /** {@code streams} concurrent greedy streams of {@code tokens} tokens each; returns the tokens generated. */
    static int load(InferenceGrpc.InferenceBlockingStub stub, int streams, int tokens, int promptTokens, int vocab,
                    long seed) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(streams);
        try {
            List<Future<Integer>> done = new ArrayList<>();
            for (int s = 0; s < streams; s++) {
                SplittableRandom rnd = new SplittableRandom(seed * 1000 + s);
                TokenIds.Builder ids = TokenIds.newBuilder();
                for (int i = 0; i < promptTokens; i++) {
                    ids.addIds(rnd.nextInt(Math.min(vocab, 100_000)));
                }
                GenerateRequest req = GenerateRequest.newBuilder().setPromptIds(ids).setMaxTokens(tokens)
                        .setTemperature(0).setIgnoreEos(true).build();
                done.add(pool.submit(() -> {
                    int n = 0;
                    Iterator<GenerateChunk> it = stub.withDeadlineAfter(30, TimeUnit.MINUTES).generate(req);
                    while (it.hasNext()) {
                        n += it.next().getTokenIdsCount();
                    }
                    return n;
                }));
            }
            int total = 0;
            for (Future<Integer> f : done) {
                total += f.get();
            }
            return total;
        } finally {
            pool.shutdownNow();
        }
    }

    /** Per shard process: the (row, expert) pairs it has computed ({@code dsv2_expert_tokens_total}, summed). */
    static double[] shardPairs(List<ServiceProcess> shards) throws IOException, InterruptedException {
        double[] pairs = new double[shards.size()];
        for (int i = 0; i < pairs.length; i++) {
            pairs[i] = PrometheusText.sumsByName(shards.get(i).metrics()).getOrDefault("dsv2_expert_tokens_total", 0.0);
        }
        return pairs;
    }

    /** Sums of the router's timers (Prometheus text), keyed by metric name (labels summed over). */
    static Map<String, Double> routerTimes(ServiceProcess router) throws IOException, InterruptedException {
        Map<String, Double> sums = new LinkedHashMap<>();
        for (PrometheusText.Sample s : PrometheusText.samples(router.metrics())) {
            if (s.name().startsWith("dsv2_router_")) {
                sums.merge(s.name(), s.value(), Double::sum);
                int phase = s.labels().indexOf("phase=\"");
                if (phase >= 0) { // also keyed by the phase label alone
                    String label = s.labels().substring(phase, s.labels().indexOf('"', phase + 7) + 1);
                    sums.merge(s.name() + "{" + label + "}", s.value(), Double::sum);
                }
            }
        }
        return sums;
    }

    static double delta(Map<String, Double> before, Map<String, Double> after, String name) {
        return after.getOrDefault(name, 0.0) - before.getOrDefault(name, 0.0);
    }

    static void report(Path model, List<Level> results, boolean json) throws IOException {
        if (json) {
            ObjectNode o = JSON.createObjectNode();
            o.put("model", model.toString());
            o.put("cpus", Runtime.getRuntime().availableProcessors());
            ArrayNode arr = o.putArray("results");
            for (Level l : results) {
                ObjectNode r = arr.addObject();
                r.put("mode", l.mode());
                r.put("round", l.round());
                r.put("concurrency", l.concurrency());
                r.put("tokens", l.tokens());
                r.put("seconds", l.seconds());
                r.put("tokens_per_s", l.tokensPerSecond());
                r.put("step_ms_mean", l.stepMillis());
                r.put("step_wall_share", l.stepShare());
                if (!Double.isNaN(l.expertInFlightShare())) {
                    r.put("expert_rpc_step_share", l.expertInFlightShare());
                    r.put("expert_wait_step_share", l.expertWaitShare());
                    r.put("expert_layer_us", l.layerMicros());
                    r.put("shard_load_max_mean", l.shardLoad());
                    r.put("split_step_share", l.splitShare());
                    ObjectNode tl = r.putObject("expert_call_timeline_us");
                    l.timelineMicros().forEach(tl::put);
                }
            }
            ArrayNode ratios = o.putArray("ratios");
            ratios(results).forEach((c, perRound) -> {
                ObjectNode r = ratios.addObject();
                r.put("concurrency", c);
                ArrayNode rs = r.putArray("distributed_over_embedded");
                perRound.forEach(rs::add);
                r.put("median", median(perRound));
            });
            System.out.println(JSON.writeValueAsString(o));
            return;
        }
        System.out.println("model: " + model + " (" + Runtime.getRuntime().availableProcessors() + " cpus)");
        System.out.printf("%-22s %5s %11s %14s %10s %11s %22s %22s %16s %12s%n", "mode", "round", "concurrency",
                "tokens/s", "step ms", "step share", "expert RPC share", "blocked-wait share", "shard max/mean",
                "split steps");
        for (Level l : results) {
            System.out.printf("%-22s %5d %11d %14.1f %10.1f %11s %22s %22s %16s %12s%n", l.mode(), l.round(),
                    l.concurrency(), l.tokensPerSecond(), l.stepMillis(), pct(l.stepShare()),
                    pct(l.expertInFlightShare()), pct(l.expertWaitShare()),
                    Double.isNaN(l.shardLoad()) ? "-" : String.format("%.2f", l.shardLoad()), pct(l.splitShare()));
        }
        System.out.println("(step ms: mean forward pass per scheduler step; step share: those steps' time over the"
                + " level's, the rest being serving work between steps)");
        Map<Integer, List<Double>> ratios = ratios(results);
        if (!ratios.isEmpty()) {
            System.out.println();
            System.out.println("distributed / embedded tokens/s, per round (median):");
            ratios.forEach((c, perRound) -> System.out.printf("  concurrency %d: %s (%.2f)%n", c,
                    perRound.stream().map(v -> String.format("%.2f", v)).toList(), median(perRound)));
        }
        System.out.println();
        System.out.println("expert call timeline (router + shards, mean us per answered shard call; layer = per MoE"
                + " layer and micro-batch, send to combine):");
        StringBuilder head = new StringBuilder(String.format("%-22s %5s %11s %10s", "mode", "round", "concurrency",
                "layer"));
        for (String p : PHASES) {
            head.append(String.format(" %11s", p));
        }
        System.out.println(head);
        for (Level l : results) {
            if (l.timelineMicros().isEmpty()) {
                continue;
            }
            StringBuilder row = new StringBuilder(String.format("%-22s %5d %11d %10.0f", l.mode(), l.round(),
                    l.concurrency(), l.layerMicros()));
            for (String p : PHASES) {
                row.append(String.format(" %11.0f", l.timelineMicros().get(p)));
            }
            System.out.println(row);
        }
    }

    /** Per concurrency, the distributed / embedded tokens/s of each round that measured both. */
    static Map<Integer, List<Double>> ratios(List<Level> results) {
        Map<Integer, List<Double>> out = new java.util.TreeMap<>();
        for (Level d : results) {
            if (d.mode().equals("embedded")) {
                continue;
            }
            for (Level e : results) {
                if (e.mode().equals("embedded") && e.round() == d.round() && e.concurrency() == d.concurrency()) {
                    out.computeIfAbsent(d.concurrency(), k -> new ArrayList<>())
                            .add(d.tokensPerSecond() / e.tokensPerSecond());
                }
            }
        }
        return out;
    }

    static double median(List<Double> values) {
        List<Double> v = values.stream().sorted().toList();
        int n = v.size();
        return n % 2 == 1 ? v.get(n / 2) : (v.get(n / 2 - 1) + v.get(n / 2)) / 2;
    }

    private static String pct(double v) {
        return Double.isNaN(v) ? "-" : String.format("%.1f%%", 100 * v);
    }
}
