package dev.dsv2.it;

import dev.dsv2.proto.v1.GenerateChunk;
import dev.dsv2.proto.v1.GenerateRequest;
import dev.dsv2.proto.v1.InferenceGrpc;
import dev.dsv2.proto.v1.TokenIds;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Chaos on loopback, bounded in time: a distributed deployment (shard 0 with two replicas, shard 1 with one, a router
 * and a gateway, each its own JVM) under 16 concurrent streams while processes are killed. Losing one replica of a
 * shard costs no client anything; losing the only replica ends the affected streams with UNAVAILABLE naming the
 * shard, and a restarted shard is used again; losing the router makes the gateway answer UNAVAILABLE / 503 until it
 * returns; SIGTERM on the gateway ends every stream well-formed ({@code finish_reason} and {@code [DONE]}).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ChaosTest {
    static final int STREAMS = 16;
    static final Duration READY = Duration.ofSeconds(180);
    static Path model;
    static ServiceProcess shard0a;
    static ServiceProcess shard0b;
    static ServiceProcess shard1;
    static ServiceProcess router;
    static ServiceProcess gateway;
    static ManagedChannel channel;

    @BeforeAll
    static void startCluster() {
        model = ItModel.path();
        shard0a = expert("chaos-expert-0a", 0);
        shard0b = expert("chaos-expert-0b", 0);
        shard1 = expert("chaos-expert-1", 1);
        for (ServiceProcess s : List.of(shard0a, shard0b, shard1)) {
            s.awaitReady(READY);
        }
        router = ServiceProcess.start("chaos-router", "router-service", Map.of("dsv2.model.dir", model.toString(),
                "dsv2.router.experts", String.join(",", shard0a.grpcAddress(), shard0b.grpcAddress(),
                        shard1.grpcAddress()), "dsv2.kv-cache.tokens", "16384"));
        router.awaitReady(READY);
        gateway = ServiceProcess.start("chaos-gateway", "gateway", Map.of("dsv2.model.dir", model.toString(),
                "dsv2.gateway.router", router.grpcAddress(), "dsv2.shutdown.drain-timeout", "2s"));
        gateway.awaitReady(READY);
        channel = ManagedChannelBuilder.forTarget(gateway.grpcAddress()).usePlaintext().build();
    }

    static ServiceProcess expert(String name, int index) {
        return ServiceProcess.start(name, "expert-service", Map.of("dsv2.model.dir", model.toString(),
                "dsv2.shard.index", "" + index, "dsv2.shard.count", "2"));
    }

    @AfterAll
    static void stopCluster() throws InterruptedException {
        if (channel != null) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        for (ServiceProcess s : new ServiceProcess[]{gateway, router, shard0a, shard0b, shard1}) {
            if (s != null) {
                s.close();
            }
        }
    }

    /** How one stream ended. */
    record Outcome(int tokens, String finishReason, Status error) {
    }

    /** Starts a greedy stream of {@code maxTokens}; {@code firstToken} counts down at its first generated token. */
    static CompletableFuture<Outcome> stream(int i, int maxTokens, CountDownLatch firstToken) {
        CompletableFuture<Outcome> done = new CompletableFuture<>();
        int[] tokens = {0};
        String[] reason = {null};
        InferenceGrpc.newStub(channel).withDeadlineAfter(120, TimeUnit.SECONDS).generate(GenerateRequest.newBuilder()
                .setPromptIds(TokenIds.newBuilder().addIds(1 + i).addIds(100 + i).addIds(7))
                .setMaxTokens(maxTokens).setTemperature(0).setIgnoreEos(true).build(), new StreamObserver<>() {
                    @Override
                    public void onNext(GenerateChunk c) {
                        if (c.getTokenIdsCount() > 0) {
                            if (tokens[0] == 0) {
                                firstToken.countDown();
                            }
                            tokens[0] += c.getTokenIdsCount();
                        }
                        if (!c.getFinishReason().isEmpty()) {
                            reason[0] = c.getFinishReason();
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        firstToken.countDown();
                        done.complete(new Outcome(tokens[0], reason[0], Status.fromThrowable(t)));
                    }

                    @Override
                    public void onCompleted() {
                        done.complete(new Outcome(tokens[0], reason[0], null));
                    }
                });
        return done;
    }

    static List<Outcome> underLoad(int maxTokens, ThrowingRunnable chaos) throws Exception {
        CountDownLatch started = new CountDownLatch(STREAMS);
        List<CompletableFuture<Outcome>> streams = new ArrayList<>();
        for (int i = 0; i < STREAMS; i++) {
            streams.add(stream(i, maxTokens, started));
        }
        assertTrue(started.await(120, TimeUnit.SECONDS), "every stream produced a first token");
        chaos.run();
        List<Outcome> outcomes = new ArrayList<>();
        for (CompletableFuture<Outcome> s : streams) {
            outcomes.add(s.get(180, TimeUnit.SECONDS));
        }
        return outcomes;
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    /** A short request through the gateway: its status code (OK when it generated). */
    static Status.Code probe() throws Exception {
        Outcome o = stream(0, 2, new CountDownLatch(1)).get(120, TimeUnit.SECONDS);
        return o.error() == null ? Status.Code.OK : o.error().getCode();
    }

    /** Waits until a probe answers {@code want}; returns the seconds that took. */
    static double awaitProbe(Status.Code want, Duration timeout) throws Exception {
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        Status.Code got = null;
        while (System.nanoTime() < deadline) {
            got = probe();
            if (got == want) {
                return (System.nanoTime() - start) / 1e9;
            }
            Thread.sleep(500);
        }
        fail("the gateway answered " + got + ", not " + want + ", for " + timeout);
        return Double.NaN;
    }

    /** One line of the chaos results (the README's table comes from a run's output). */
    static void report(String what, String result) {
        System.out.println("CHAOS | " + what + " | " + result + " |");
    }

    static String summary(List<Outcome> outcomes) {
        Map<String, Integer> counts = new java.util.TreeMap<>();
        for (Outcome o : outcomes) {
            counts.merge(o.error() == null ? "finish_reason " + o.finishReason() : o.error().getCode().name(), 1,
                    Integer::sum);
        }
        return counts.toString();
    }

    @Test
    @Order(1)
    void killingOneReplicaOfAShardCostsNoClientAnything() throws Exception {
        List<Outcome> outcomes = underLoad(40, () -> shard0b.kill());
        report("kill -9 one replica of shard 0/2 under 16 streams", summary(outcomes));
        for (Outcome o : outcomes) {
            assertEquals(null, o.error(), "no client sees an error: " + outcomes);
            assertEquals("length", o.finishReason());
            assertEquals(40, o.tokens());
        }
    }

    @Test
    @Order(2)
    void killingTheOnlyReplicaFailsTheAffectedStreamsAndARestartedShardIsUsedAgain() throws Exception {
        List<Outcome> outcomes = underLoad(400, () -> shard1.kill());
        report("kill -9 the only replica of shard 1/2 under 16 streams", summary(outcomes) + ", e.g. \""
                + outcomes.stream().filter(o -> o.error() != null).map(o -> o.error().getDescription()).findFirst()
                .orElse("") + "\"");
        int failed = 0;
        for (Outcome o : outcomes) {
            if (o.error() != null) {
                failed++;
                assertEquals(Status.Code.UNAVAILABLE, o.error().getCode(), o.toString());
                assertTrue(o.error().getDescription() != null && o.error().getDescription().contains("shard"),
                        "the error names the shard: " + o.error());
            } else {
                assertTrue(o.finishReason() != null, "the others finish well-formed: " + o);
            }
        }
        assertTrue(failed > 0, "the streams that needed shard 1 failed: " + outcomes);

        long restart = System.nanoTime();
        shard1 = shard1.restart();
        shard1.awaitReady(READY);
        awaitProbe(Status.Code.OK, Duration.ofSeconds(90));
        report("restart shard 1/2", String.format("requests succeed again %.1f s after the restart began",
                (System.nanoTime() - restart) / 1e9));
    }

    @Test
    @Order(3)
    void killingTheRouterIsUnavailableUntilItReturns() throws Exception {
        router.kill();
        double refused = awaitProbe(Status.Code.UNAVAILABLE, Duration.ofSeconds(30));
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                + gateway.httpPort + "/v1/completions")).header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"it-model\",\"prompt\":[1,2],\"max_tokens\":1}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(503, r.statusCode(), r.body());

        long restart = System.nanoTime();
        router = router.restart();
        router.awaitReady(READY);
        double recovered = awaitProbe(Status.Code.OK, Duration.ofSeconds(90));
        report("kill -9 the router, then restart it", String.format("gateway: gRPC UNAVAILABLE after %.1f s, HTTP 503; "
                + "requests succeed %.1f s after the router was ready (%.1f s after the restart began)", refused,
                recovered, (System.nanoTime() - restart) / 1e9));
    }

    @Test
    @Order(4)
    void sigtermOnTheGatewayEndsEveryStreamWellFormed() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        ExecutorService readers = Executors.newVirtualThreadPerTaskExecutor();
        CountDownLatch started = new CountDownLatch(STREAMS);
        List<Future<List<String>>> streams = new ArrayList<>();
        for (int i = 0; i < STREAMS; i++) {
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + gateway.httpPort
                    + "/v1/completions")).header("content-type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"it-model\",\"prompt\":[1," + (i + 2)
                            + "],\"max_tokens\":2000,\"ignore_eos\":true,\"stream\":true}")).build();
            streams.add(readers.submit(() -> {
                List<String> lines = new ArrayList<>();
                HttpResponse<java.io.InputStream> r = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
                try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                    for (String line; (line = in.readLine()) != null; ) {
                        if (line.startsWith("data: ")) {
                            if (lines.isEmpty()) {
                                started.countDown();
                            }
                            lines.add(line);
                        }
                    }
                } catch (java.io.IOException e) {
                    lines.add("cut: " + e);
                }
                return lines;
            }));
        }
        assertTrue(started.await(120, TimeUnit.SECONDS), "every stream is running");
        gateway.terminate();
        Map<String, Integer> ends = new java.util.TreeMap<>();
        for (Future<List<String>> s : streams) {
            List<String> lines = s.get(60, TimeUnit.SECONDS);
            String last = lines.size() < 2 ? "" : lines.get(lines.size() - 2);
            ends.merge(lines.getLast().equals("data: [DONE]") ? (last.contains("\"abort\"") ? "abort + [DONE]"
                    : last.contains("\"length\"") ? "length + [DONE]" : "other + [DONE]") : "cut", 1, Integer::sum);
            assertEquals("data: [DONE]", lines.getLast(), "the stream ends with [DONE]: " + lines.getLast());
            assertTrue(lines.get(lines.size() - 2).contains("\"finish_reason\":\"abort\"")
                    || lines.get(lines.size() - 2).contains("\"finish_reason\":\"length\""),
                    "a last chunk with a finish_reason: " + lines.get(lines.size() - 2));
        }
        assertEquals(143, gateway.awaitExit(Duration.ofSeconds(30)), "the gateway exits after its drain");
        report("SIGTERM the gateway under 16 HTTP streams (drain timeout 2 s)", ends.toString());
        readers.shutdown();
    }
}
