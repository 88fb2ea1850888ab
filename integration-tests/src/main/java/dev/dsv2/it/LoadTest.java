package dev.dsv2.it;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.proto.v1.GenerateChunk;
import dev.dsv2.proto.v1.GenerateRequest;
import dev.dsv2.proto.v1.InferenceGrpc;
import dev.dsv2.proto.v1.TokenIds;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code ./dsv2 loadtest}: {@code N} clients send streaming gRPC requests for {@code M} seconds against a gateway on
 * loopback (an embedded all-in-one server it starts, or {@code --grpc H:P --http H:P} of a running one), each
 * cancelling a share of its requests mid-stream; then reports requests ok / cancelled / failed (by status), p50 and
 * p99 end-to-end latency of the completed ones, the KV cache blocks still in use once idle (must be 0: a leak
 * otherwise) and the gateway's heap after GC ({@code jvm_gc_live_data_size_bytes}).
 *
 * <p>Usage: {@code loadtest [--model DIR] [--grpc H:P --http H:P] [--clients N (16)] [--seconds M (30)]
 * [--cancel P (0.1)] [--max-tokens K (32)] [--json]}.
 */
public final class LoadTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    record Report(int clients, int seconds, int ok, int cancelled, Map<String, Integer> failed, double p50Ms,
                  double p99Ms, double blocksInUseIdle, double heapAfterGcMb) {
    }

    public static void main(String[] args) throws Exception {
        Path model = null;
        String grpc = null;
        String http = null;
        int clients = 16;
        int seconds = 30;
        double cancel = 0.1;
        int maxTokens = 32;
        boolean json = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--model" -> model = Path.of(args[++i]).toAbsolutePath();
                case "--grpc" -> grpc = args[++i];
                case "--http" -> http = args[++i];
                case "--clients" -> clients = Integer.parseInt(args[++i]);
                case "--seconds" -> seconds = Integer.parseInt(args[++i]);
                case "--cancel" -> cancel = Double.parseDouble(args[++i]);
                case "--max-tokens" -> maxTokens = Integer.parseInt(args[++i]);
                case "--json" -> json = true;
                case "-h", "--help" -> {
                    System.out.println("Usage: ./dsv2 loadtest [--model DIR] [--grpc H:P --http H:P] [--clients N (16)]"
                            + " [--seconds M (30)] [--cancel P (0.1)] [--max-tokens K (32)] [--json]\n"
                            + "N streaming clients for M seconds (a share P cancelled mid-stream) against an embedded"
                            + " gateway it starts on loopback, or a running one; reports ok/failed, p50/p99 latency,"
                            + " KV blocks in use when idle (must be 0) and heap after GC.");
                    return;
                }
                default -> {
                    System.err.println("loadtest: unknown argument " + args[i] + " (see --help)");
                    System.exit(2);
                }
            }
        }
        if ((grpc == null) != (http == null) || clients < 1 || seconds < 1 || !(cancel >= 0 && cancel <= 1)
                || maxTokens < 1) {
            System.err.println("loadtest: --grpc and --http go together; --clients, --seconds, --max-tokens >= 1; "
                    + "--cancel in [0, 1] (see --help)");
            System.exit(2);
        }
        ServiceProcess gateway = null;
        try {
            if (grpc == null) {
                Path dir = model != null ? model : ServingBenchmark.presetModel("tiny");
                gateway = ServiceProcess.start("loadtest-gateway", "gateway", Map.of("dsv2.model.dir", dir.toString(),
                        "dsv2.gateway.router", "embedded", "dsv2.kv-cache.tokens", "16384"), List.of("-Xmx2g"));
                gateway.awaitReady(Duration.ofMinutes(5));
                grpc = gateway.grpcAddress();
                http = "127.0.0.1:" + gateway.httpPort;
                model = dir;
            }
            int vocab = model == null ? 100_000 : ModelConfig.load(model).vocabSize();
            Report report = run(grpc, http, clients, seconds, cancel, maxTokens, vocab);
            print(report, json);
        } finally {
            if (gateway != null) {
                gateway.close();
            }
        }
    }

    static Report run(String grpc, String http, int clients, int seconds, double cancelRate, int maxTokens,
                      int vocab) throws Exception {
        ManagedChannel channel = ManagedChannelBuilder.forTarget(grpc).usePlaintext().build();
        AtomicInteger ok = new AtomicInteger();
        AtomicInteger cancelled = new AtomicInteger();
        Map<String, Integer> failed = new ConcurrentHashMap<>();
        List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        try {
            List<Thread> threads = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                SplittableRandom rnd = new SplittableRandom(c * 7919L + 1);
                threads.add(Thread.ofVirtual().start(() -> {
                    while (System.nanoTime() < end) {
                        one(channel, rnd, cancelRate, maxTokens, vocab, ok, cancelled, failed, latencies);
                    }
                }));
            }
            for (Thread t : threads) {
                t.join();
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        Thread.sleep(2_000); // cancellations and last frees are asynchronous
        Map<String, Double> metrics = metrics(http);
        OpenLoopLoad.Percentiles latency = OpenLoopLoad.Percentiles.of(new ArrayList<>(latencies));
        return new Report(clients, seconds, ok.get(), cancelled.get(), new java.util.TreeMap<>(failed),
                latency.p50(), latency.p99(), metrics.getOrDefault("dsv2_kv_blocks_used", -1.0),
                metrics.getOrDefault("jvm_gc_live_data_size_bytes", -1.0) / (1 << 20));
    }

    /** One request: greedy or sampled, sometimes cancelled after a random number of chunks. */
    static void one(ManagedChannel channel, SplittableRandom rnd, double cancelRate, int maxTokens, int vocab,
                    AtomicInteger ok, AtomicInteger cancelled, Map<String, Integer> failed, List<Double> latencies) {
        TokenIds.Builder ids = TokenIds.newBuilder();
        int promptTokens = 1 + rnd.nextInt(32);
        for (int i = 0; i < promptTokens; i++) {
            ids.addIds(rnd.nextInt(Math.min(vocab, 100_000)));
        }
        boolean cancel = rnd.nextDouble() < cancelRate;
        int cancelAfter = 1 + rnd.nextInt(Math.max(1, maxTokens));
        GenerateRequest request = GenerateRequest.newBuilder().setPromptIds(ids)
                .setMaxTokens(1 + rnd.nextInt(maxTokens)).setTemperature(rnd.nextBoolean() ? 0 : 0.8f)
                .setIgnoreEos(true).build();
        CompletableFuture<Status> done = new CompletableFuture<>();
        long t0 = System.nanoTime();
        InferenceGrpc.newStub(channel).withDeadlineAfter(5, TimeUnit.MINUTES).generate(request,
                new ClientResponseObserver<GenerateRequest, GenerateChunk>() {
                    ClientCallStreamObserver<GenerateRequest> call;
                    int chunks;

                    @Override
                    public void beforeStart(ClientCallStreamObserver<GenerateRequest> requestStream) {
                        call = requestStream;
                    }

                    @Override
                    public void onNext(GenerateChunk value) {
                        if (cancel && ++chunks >= cancelAfter) {
                            call.cancel("loadtest: a client that goes away", null);
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        done.complete(Status.fromThrowable(t));
                    }

                    @Override
                    public void onCompleted() {
                        done.complete(Status.OK);
                    }
                });
        Status status = done.join();
        if (status.isOk()) {
            ok.incrementAndGet();
            latencies.add((System.nanoTime() - t0) / 1e6);
        } else if (cancel && status.getCode() == Status.Code.CANCELLED) {
            cancelled.incrementAndGet();
        } else {
            failed.merge(status.getCode().name(), 1, Integer::sum);
        }
    }

    /** The gateway's Prometheus samples without labels or summed over them. */
    static Map<String, Double> metrics(String http) throws IOException, InterruptedException {
        String text = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://" + http
                + "/q/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
        return PrometheusText.sumsByName(text);
    }

    static void print(Report r, boolean json) throws IOException {
        if (json) {
            ObjectNode o = JSON.createObjectNode();
            o.put("clients", r.clients());
            o.put("seconds", r.seconds());
            o.put("ok", r.ok());
            o.put("cancelled", r.cancelled());
            o.set("failed", JSON.valueToTree(r.failed()));
            o.put("p50_ms", r.p50Ms());
            o.put("p99_ms", r.p99Ms());
            o.put("kv_blocks_in_use_idle", r.blocksInUseIdle());
            o.put("heap_after_gc_mb", r.heapAfterGcMb());
            System.out.println(JSON.writeValueAsString(o));
            return;
        }
        System.out.printf("clients %d for %d s: ok %d, cancelled %d, failed %s%n", r.clients(), r.seconds(), r.ok(),
                r.cancelled(), r.failed().isEmpty() ? "0" : r.failed());
        System.out.printf("latency p50 %.0f ms, p99 %.0f ms; KV blocks in use when idle: %.0f%s; heap after GC: %.0f MB%n",
                r.p50Ms(), r.p99Ms(), r.blocksInUseIdle(), r.blocksInUseIdle() == 0 ? "" : " (LEAK?)",
                r.heapAfterGcMb());
    }
}
