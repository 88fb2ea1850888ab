package dev.dsv2.router;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.generate.Generator;
import dev.dsv2.engine.generate.TokenListener;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.proto.internal.v1.RouterAbortRequest;
import dev.dsv2.proto.internal.v1.RouterEvent;
import dev.dsv2.proto.internal.v1.RouterGrpc;
import dev.dsv2.proto.internal.v1.RouterRequest;
import dev.dsv2.proto.internal.v1.RouterStatus;
import dev.dsv2.proto.internal.v1.RouterStatusRequest;
import dev.dsv2.proto.internal.v1.SamplingParams;
import dev.dsv2.testsupport.ContainerImageExpectations;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packaged router app over two real expert shards: readiness waits for every shard, the Router gRPC API
 * (streaming, cancellation, abort, status, refusals), and the Prometheus metrics.
 */
@QuarkusTest
@QuarkusTestResource(value = RouterTestResource.class, restrictToAnnotatedClass = true)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RouterServiceTest {
    private static ManagedChannel channel;
    private static RouterGrpc.RouterBlockingStub blocking;
    private static RouterGrpc.RouterStub async;

    @BeforeAll
    static void connect() {
        channel = NettyChannelBuilder.forAddress("127.0.0.1", RouterTestResource.grpcPort).usePlaintext().build();
        blocking = RouterGrpc.newBlockingStub(channel);
        async = RouterGrpc.newStub(channel);
    }

    @AfterAll
    static void disconnect() {
        channel.shutdownNow();
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out waiting for " + what);
            Thread.sleep(20);
        }
    }

    private static void awaitReady() throws InterruptedException {
        await(() -> RestAssured.get("/q/health/ready").statusCode() == 200, "readiness");
    }

    private static int[] prompt(int n, int salt) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = (salt * 131 + i * 17 + 3) % 1024;
        }
        return p;
    }

    private static RouterRequest request(String id, int[] prompt, int maxTokens) {
        RouterRequest.Builder b = RouterRequest.newBuilder().setRequestId(id)
                .setSampling(SamplingParams.newBuilder().setMaxTokens(maxTokens).setIgnoreEos(true));
        for (int t : prompt) {
            b.addPromptIds(t);
        }
        return b.build();
    }

    private static int[] localGreedy(int[] prompt, int n) {
        VectorBackend be = new VectorBackend(1);
        try (DeepseekV2Model m = DeepseekV2Model.load(RouterTestResource.modelDir, be, null)) {
            return new Generator(m, LatentKvCache.forTokens(m.config(), 512)).generate(prompt,
                    dev.dsv2.engine.sample.SamplingParams.greedy(n).toBuilder().ignoreEos(true).build(), null,
                    TokenListener.NONE).outputIds();
        } finally {
            be.close();
        }
    }

    private static List<RouterEvent> drain(Iterator<RouterEvent> events) {
        List<RouterEvent> out = new ArrayList<>();
        events.forEachRemaining(out::add);
        return out;
    }

    private static int[] tokenIds(List<RouterEvent> events) {
        return events.stream().filter(RouterEvent::hasToken).mapToInt(e -> e.getToken().getTokenId()).toArray();
    }

    @Test
    @Order(1)
    void readinessStaysDownNamingTheMissingShardUntilItAnswers() throws InterruptedException {
        await(() -> RestAssured.get("/q/health/started").statusCode() == 200, "the model to load");
        String ready = RestAssured.get("/q/health/ready").then().statusCode(503).extract().asString();
        assertTrue(ready.contains("missing expert shard 1/2"), ready);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> drain(blocking.generate(request("early", prompt(5, 1), 4))));
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("missing expert shard 1/2"), e.toString());
        assertFalse(blocking.status(RouterStatusRequest.getDefaultInstance()).getReady());

        RouterTestResource.startShardOne();
        awaitReady();
        RestAssured.get("/q/health/live").then().statusCode(200);
        assertTrue(blocking.status(RouterStatusRequest.getDefaultInstance()).getReady());
    }

    @Test
    @Order(2)
    void generateStreamsOneEventPerTokenThenCompletes() throws InterruptedException {
        awaitReady();
        int[] p = prompt(9, 2);
        RouterRequest req = request("g1", p, 8).toBuilder()
                .setSampling(SamplingParams.newBuilder().setMaxTokens(8).setIgnoreEos(true).setLogprobs(2)).build();
        List<RouterEvent> events = drain(blocking.generate(req));
        assertEquals(9, events.size(), events.toString());
        for (RouterEvent e : events.subList(0, 8)) {
            assertTrue(e.hasToken());
            assertEquals(2, e.getToken().getTopIdsCount());
            assertEquals(e.getToken().getTopIds(0), e.getToken().getTokenId(), "greedy picks the best");
            assertTrue(e.getToken().getLogprob() <= 0f);
        }
        RouterEvent last = events.get(8);
        assertTrue(last.hasComplete());
        assertEquals("length", last.getComplete().getFinishReason());
        assertEquals(9, last.getComplete().getPromptTokens());
        assertEquals(8, last.getComplete().getCompletionTokens());
        assertArrayEquals(localGreedy(p, 8), tokenIds(events), "distributed = in-process");
    }

    @Test
    @Order(3)
    void cancellingTheClientStreamAbortsTheRequestAndFreesItsCacheBlocks() throws Exception {
        awaitReady();
        CountDownLatch threeTokens = new CountDownLatch(3);
        CompletableFuture<Throwable> end = new CompletableFuture<>();
        async.generate(request("cancel-me", prompt(6, 3), 240), new ClientResponseObserver<RouterRequest, RouterEvent>() {
            private ClientCallStreamObserver<RouterRequest> call;

            @Override
            public void beforeStart(ClientCallStreamObserver<RouterRequest> requestStream) {
                call = requestStream;
            }

            @Override
            public void onNext(RouterEvent value) {
                threeTokens.countDown();
                if (threeTokens.getCount() == 0) {
                    call.cancel("client went away", null);
                }
            }

            @Override
            public void onError(Throwable t) {
                end.complete(t);
            }

            @Override
            public void onCompleted() {
                end.complete(null);
            }
        });
        assertTrue(threeTokens.await(30, TimeUnit.SECONDS));
        assertEquals(Status.Code.CANCELLED, Status.fromThrowable(end.get(30, TimeUnit.SECONDS)).getCode());
        await(() -> {
            RouterStatus s = blocking.status(RouterStatusRequest.getDefaultInstance());
            return s.getRunning() == 0 && s.getKvBlocksUsed() == 0;
        }, "the cancelled request's blocks to be freed");
        assertFalse(blocking.abort(RouterAbortRequest.newBuilder().setRequestId("cancel-me").build()).getFound(),
                "the request is gone");
    }

    @Test
    @Order(4)
    void aPromptOverTheContextLimitIsInvalidArgumentNamingTheLimit() throws InterruptedException {
        awaitReady();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> drain(blocking.generate(request("long", prompt(600, 4), 4))));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("600 tokens; the context limit is 512"), e.toString());
    }

    @Test
    @Order(5)
    void aRequestLargerThanTheWholeCacheIsRefusedAtOnce() throws InterruptedException {
        awaitReady();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> drain(blocking.generate(request("huge", prompt(10, 5), 300))));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("more than the whole cache holds (256 tokens)"),
                e.toString());
        StatusRuntimeException badTemperature = assertThrows(StatusRuntimeException.class,
                () -> drain(blocking.generate(request("hot", prompt(10, 5), 4).toBuilder()
                        .setSampling(SamplingParams.newBuilder().setTemperature(7f).setMaxTokens(4)).build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, badTemperature.getStatus().getCode());
        assertTrue(badTemperature.getStatus().getDescription().contains("temperature"), badTemperature.toString());
    }

    @Test
    @Order(6)
    void manyRequestsForASmallCacheWaitTheirTurnAndAllComplete() throws Exception {
        awaitReady();
        // Each needs 40 + 30 = 70 tokens = 2 blocks; the cache has 4: at most two run at once.
        int n = 8;
        List<CompletableFuture<List<RouterEvent>>> streams = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            RouterRequest req = request("many-" + i, prompt(40, 10 + i), 30);
            streams.add(CompletableFuture.supplyAsync(() -> drain(blocking.generate(req))));
        }
        for (int i = 0; i < n; i++) {
            List<RouterEvent> events = streams.get(i).get(120, TimeUnit.SECONDS);
            RouterEvent last = events.getLast();
            assertTrue(last.hasComplete(), "request " + i + " ended with " + last);
            assertEquals("length", last.getComplete().getFinishReason());
            assertEquals(30, tokenIds(events).length);
        }
        assertArrayEquals(localGreedy(prompt(40, 10), 30), tokenIds(streams.getFirst().get()));
        await(() -> blocking.status(RouterStatusRequest.getDefaultInstance()).getKvBlocksUsed() == 0,
                "every block to be free again");
        RouterStatus s = blocking.status(RouterStatusRequest.getDefaultInstance());
        assertEquals(4, s.getKvBlocksTotal());
        assertEquals(64, s.getKvBlockSize());
        assertEquals(512, s.getContextLimit());
        assertEquals(1024, s.getVocabSize());
        assertEquals("tiny", s.getModel());
    }

    @Test
    @Order(7)
    void abortByIdEndsTheStreamWithFinishReasonAbort() throws Exception {
        awaitReady();
        CompletableFuture<List<RouterEvent>> stream = CompletableFuture.supplyAsync(
                () -> drain(blocking.generate(request("abort-me", prompt(5, 7), 240))));
        await(() -> blocking.status(RouterStatusRequest.getDefaultInstance()).getRunning() == 1, "the request to run");
        assertTrue(blocking.abort(RouterAbortRequest.newBuilder().setRequestId("abort-me").build()).getFound());
        RouterEvent last = stream.get(30, TimeUnit.SECONDS).getLast();
        assertEquals("abort", last.getComplete().getFinishReason());
    }

    @Test
    @Order(8)
    void prometheusMetricsUseTheVllmNamesAndCountShardCallsAndRoutedTokens() throws InterruptedException {
        awaitReady();
        drain(blocking.generate(request("metrics", prompt(5, 8), 3)));
        String m = RestAssured.get("/q/metrics").then().statusCode(200).extract().asString();
        for (String name : List.of("vllm:num_requests_running ", "vllm:num_requests_waiting ",
                "vllm:kv_cache_usage_perc ", "vllm:num_preemptions_total ", "vllm:prompt_tokens_total ",
                "vllm:generation_tokens_total ", "vllm:time_to_first_token_seconds_bucket{",
                "vllm:inter_token_latency_seconds_count ", "vllm:e2e_request_latency_seconds_count ",
                "dsv2_router_kv_blocks_used ", "dsv2_router_kv_blocks_free ", "dsv2_router_step_rows_count ",
                "dsv2_router_step_seconds_count ", "dsv2_router_routed_tokens_total{expert=\"15\",layer=\"2\"} ",
                "dsv2_router_expert_rpc_seconds_count{code=\"OK\",endpoint=\"127.0.0.1:")) {
            assertTrue(m.contains(name), "/q/metrics lacks " + name + "\n" + m);
        }
        assertTrue(m.contains("shard=\"1\""), "per-shard RPC timers");
    }

    @Test
    @Order(9)
    void aShardLostMidStreamEndsTheStreamWithAnUnavailableErrorEventAndTheNextRequestWorksOnceItIsBack()
            throws Exception {
        awaitReady();
        CountDownLatch threeTokens = new CountDownLatch(3);
        List<RouterEvent> events = new java.util.concurrent.CopyOnWriteArrayList<>();
        CompletableFuture<Void> end = new CompletableFuture<>();
        async.generate(request("lost", prompt(5, 9), 240), new io.grpc.stub.StreamObserver<>() {
            @Override
            public void onNext(RouterEvent value) {
                events.add(value);
                threeTokens.countDown();
            }

            @Override
            public void onError(Throwable t) {
                end.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                end.complete(null);
            }
        });
        assertTrue(threeTokens.await(30, TimeUnit.SECONDS));
        RouterTestResource.killShardOne();
        end.get(30, TimeUnit.SECONDS);
        RouterEvent last = events.getLast();
        assertTrue(last.hasError(), "last event: " + last);
        assertEquals(Status.Code.UNAVAILABLE.value(), last.getError().getCode());
        assertTrue(last.getError().getMessage().startsWith("expert shard 1/2 (127.0.0.1:"
                + RouterTestResource.shardOnePort() + ") is unreachable"), last.getError().getMessage());
        await(() -> blocking.status(RouterStatusRequest.getDefaultInstance()).getKvBlocksUsed() == 0,
                "the failed request's blocks to be freed");

        RouterTestResource.startShardOne();
        List<RouterEvent> after = drain(blocking.generate(request("back", prompt(5, 9), 4)));
        assertEquals("length", after.getLast().getComplete().getFinishReason());
    }

    @Test
    @Order(99)
    void theContainerImageIsTheOneTheHelmChartExpects() {
        org.eclipse.microprofile.config.Config c = org.eclipse.microprofile.config.ConfigProvider.getConfig();
        ContainerImageExpectations.assertImage("dsv2-router", key -> c.getValue(key, String.class),
                key -> c.getValues(key, String.class));
    }
}
