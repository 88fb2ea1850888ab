package dev.dsv2.expert;

import dev.dsv2.proto.internal.v1.ExpertRequest;
import dev.dsv2.proto.internal.v1.ExpertResponse;
import dev.dsv2.proto.internal.v1.ExpertsGrpc;
import dev.dsv2.proto.internal.v1.ShardInfo;
import dev.dsv2.proto.internal.v1.ShardInfoRequest;
import dev.dsv2.testsupport.ContainerImageExpectations;
import dev.dsv2.testsupport.TestCheckpoints;
import dev.dsv2.testsupport.TestVectors;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.hamcrest.Matchers.containsString;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The packaged Quarkus app: config contract keys, health, the Experts API on the separate gRPC server, metrics. */
@QuarkusTest
@QuarkusTestResource(value = ShardTestResource.class, restrictToAnnotatedClass = true)
class ExpertServiceTest {
    private static ManagedChannel channel;
    private static ExpertsGrpc.ExpertsBlockingStub stub;

    @BeforeAll
    static void connect() {
        channel = NettyChannelBuilder.forAddress("127.0.0.1", ShardTestResource.grpcPort).usePlaintext().build();
        stub = ExpertsGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void disconnect() {
        channel.shutdownNow();
    }

    private static void awaitReady() throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (RestAssured.get("/q/health/ready").statusCode() != 200) {
            assertTrue(System.nanoTime() < deadline, "not ready within 30 s: "
                    + RestAssured.get("/q/health/ready").asString());
            Thread.sleep(50);
        }
    }

    @Test
    void ordinalThreeOfTwoShardsTimesTwoReplicasServesShardOneAndBecomesReady() throws InterruptedException {
        awaitReady();
        RestAssured.get("/q/health/ready").then().statusCode(200)
                .body(containsString("shard 1/2 replica 1/2"), containsString("8..15"));
        RestAssured.get("/q/health/started").then().statusCode(200);
        RestAssured.get("/q/health/live").then().statusCode(200);
        ShardInfo info = stub.info(ShardInfoRequest.getDefaultInstance());
        assertEquals(1, info.getShardIndex());
        assertEquals(2, info.getShardCount());
        assertEquals(2, info.getReplicas());
        assertEquals(List.of(8, 9, 10, 11, 12, 13, 14, 15), info.getOwnedExpertsList());
        assertTrue(info.getReady() && info.getHoldsShared());
        assertEquals("tiny", info.getModel());
    }

    @Test
    void computeAnswersAndIsCountedPerExpertInPrometheusFormat() throws InterruptedException {
        awaitReady();
        int d = TestCheckpoints.TINY.hiddenSize();
        ExpertRequest.Builder b = ExpertRequest.newBuilder().setLayer(2).setTopK(6).setIncludeShared(true)
                .setHidden(ExpertsEndpointTest.f32(TestVectors.gaussian(d, 2), 1, d));
        for (int e : new int[]{8, 9, -1, 15, -1, -1}) {
            b.addExpertIds(e).addExpertWeights(0.25f);
        }
        ExpertResponse r = stub.compute(b.build());
        assertEquals(List.of(1L, (long) d), r.getOutput().getShapeList());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> stub.compute(b.setExpertIds(0, 3).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        String metrics = RestAssured.get("/q/metrics").then().statusCode(200).extract().asString();
        assertTrue(metrics.contains("dsv2_expert_tokens_total{expert=\"15\",layer=\"2\"} 1.0"), metrics);
        assertTrue(metrics.contains("dsv2_expert_compute_seconds_count{layer=\"2\"}"), "compute timer exported");
        assertTrue(metrics.contains("dsv2_expert_request_rows_count{layer=\"2\"}"), "rows summary exported");
        assertTrue(!metrics.contains("expert=\"3\""), "only owned experts have series");
    }

    @Test
    void theContainerImageIsTheOneTheHelmChartExpects() {
        org.eclipse.microprofile.config.Config c = org.eclipse.microprofile.config.ConfigProvider.getConfig();
        ContainerImageExpectations.assertImage("dsv2-expert", key -> c.getValue(key, String.class),
                key -> c.getValues(key, String.class));
    }
}
