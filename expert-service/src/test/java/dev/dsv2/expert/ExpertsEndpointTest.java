package dev.dsv2.expert;

import com.google.protobuf.ByteString;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.model.ExpertPlacement;
import dev.dsv2.engine.model.ExpertShard;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.proto.internal.v1.DType;
import dev.dsv2.proto.internal.v1.ExpertRequest;
import dev.dsv2.proto.internal.v1.ExpertResponse;
import dev.dsv2.proto.internal.v1.ExpertsGrpc;
import dev.dsv2.proto.internal.v1.ShardInfo;
import dev.dsv2.proto.internal.v1.ShardInfoRequest;
import dev.dsv2.proto.internal.v1.Tensor;
import dev.dsv2.testsupport.TestCheckpoints;
import dev.dsv2.testsupport.TestVectors;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Experts gRPC API of shard 0/2 (experts 0..7, shared experts held) over a real loopback connection: results,
 * wire dtypes, and one precise INVALID_ARGUMENT per kind of malformed request.
 */
class ExpertsEndpointTest {
    private static final int D = TestCheckpoints.TINY.hiddenSize();
    private static final int TOP_K = TestCheckpoints.TINY.numExpertsPerTok();
    private static VectorBackend backend;
    private static ExpertShard shard;
    private static PlainExpertServer server;
    private static ManagedChannel channel;
    private static ExpertsGrpc.ExpertsBlockingStub stub;
    private static final SimpleMeterRegistry REGISTRY = new SimpleMeterRegistry();

    @BeforeAll
    static void start() {
        backend = new VectorBackend(1);
        shard = ExpertShard.load(TestCheckpoints.tiny(5), backend, new ExpertPlacement(0, 2, 16), true, null);
        ShardSettings settings = ShardSettings.resolve(2, OptionalInt.of(0), OptionalInt.empty(), 1, true);
        server = PlainExpertServer.start(ServedShard.ofLoaded(settings, shard, "tiny"), "127.0.0.1", 0, 1, REGISTRY);
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext()
                .maxInboundMessageSize(PlainExpertServer.MAX_MESSAGE_BYTES).build();
        stub = ExpertsGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void stop() {
        channel.shutdownNow();
        server.close();
        shard.close();
        backend.close();
    }

    /** Two rows; row 0 routes to experts 0..5 (all owned), row 1 to 3 owned experts and 3 skipped pairs. */
    private static ExpertRequest.Builder valid(float[] x) {
        ExpertRequest.Builder b = ExpertRequest.newBuilder().setLayer(1).setTopK(TOP_K)
                .setHidden(f32(x, 2, D)).setStep(42);
        int[] ids = {0, 1, 2, 3, 4, 5, 7, -1, 6, -1, 2, -1};
        for (int i = 0; i < ids.length; i++) {
            b.addExpertIds(ids[i]).addExpertWeights(0.05f * (i + 1));
        }
        return b;
    }

    static Tensor f32(float[] x, int rows, int cols) {
        ByteBuffer buf = ByteBuffer.allocate(x.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(x);
        return Tensor.newBuilder().setDtype(DType.F32).addShape(rows).addShape(cols)
                .setData(ByteString.copyFrom(buf.array())).build();
    }

    private static float[] decode(Tensor t) {
        float[] out = new float[t.getData().size() / 4];
        t.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }

    /**
     * Equal up to float32 rounding: the Vector API kernels may round differently before and after JIT warm-up
     * (fallback vs intrinsic reductions), so two computations of the same thing can differ in the last bit.
     */
    private static void assertClose(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-6f * Math.max(1f, Math.abs(want[i])), what + ", element " + i);
        }
    }

    private static float[] expected(ExpertRequest req, float[] x) {
        int[] ids = req.getExpertIdsList().stream().mapToInt(Integer::intValue).toArray();
        float[] w = new float[ids.length];
        for (int i = 0; i < w.length; i++) {
            w[i] = req.getExpertWeights(i);
        }
        float[] out = new float[2 * D];
        shard.compute(req.getLayer(), x, 2, ids, w, TOP_K, req.getIncludeShared(), out);
        return out;
    }

    @Test
    void computeReturnsTheF32PartialSumOfTheOwnedPairsSkippingMinusOne() {
        float[] x = TestVectors.gaussian(2 * D, 8);
        ExpertRequest req = valid(x).build();
        ExpertResponse r = stub.compute(req);
        assertEquals(DType.F32, r.getOutput().getDtype());
        assertEquals(List.of(2L, (long) D), r.getOutput().getShapeList());
        assertClose(expected(req, x), decode(r.getOutput()), "routed only");
        ExpertRequest withShared = valid(x).setIncludeShared(true).build();
        assertClose(expected(withShared, x), decode(stub.compute(withShared).getOutput()), "with shared experts");
        assertTrue(REGISTRY.get("dsv2.expert.tokens").tags("layer", "1", "expert", "2").counter().count() >= 2,
                "expert 2 of layer 1 got both rows");
    }

    @Test
    void theComputeStreamAnswersEveryCallByIdWithItsTimingAndABadCallDoesNotEndIt() throws Exception {
        float[] x = TestVectors.gaussian(2 * D, 9);
        java.util.concurrent.LinkedBlockingQueue<ExpertResponse> replies = new java.util.concurrent.LinkedBlockingQueue<>();
        java.util.concurrent.CompletableFuture<Status> ended = new java.util.concurrent.CompletableFuture<>();
        io.grpc.stub.StreamObserver<ExpertRequest> requests = ExpertsGrpc.newStub(channel).computeStream(
                new io.grpc.stub.StreamObserver<>() {
                    @Override
                    public void onNext(ExpertResponse value) {
                        replies.add(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                        ended.complete(Status.fromThrowable(t));
                    }

                    @Override
                    public void onCompleted() {
                        ended.complete(Status.OK);
                    }
                });
        ExpertRequest good = valid(x).build();
        requests.onNext(good.toBuilder().setCallId(11).build());
        requests.onNext(valid(x).setLayer(0).setCallId(12).build()); // a dense layer: this call fails, not the stream
        requests.onNext(good.toBuilder().setCallId(13).setIncludeShared(true).build());
        java.util.Map<Long, ExpertResponse> byId = new java.util.HashMap<>();
        for (int i = 0; i < 3; i++) {
            ExpertResponse r = replies.poll(30, java.util.concurrent.TimeUnit.SECONDS);
            assertTrue(r != null, "reply " + i + " of 3");
            byId.put(r.getCallId(), r);
        }
        assertClose(expected(good, x), decode(byId.get(11L).getOutput()), "call 11");
        assertClose(expected(good.toBuilder().setIncludeShared(true).build(), x), decode(byId.get(13L).getOutput()),
                "call 13, with shared experts");
        assertEquals(Status.Code.INVALID_ARGUMENT.value(), byId.get(12L).getError().getCode());
        assertTrue(byId.get(12L).getError().getMessage().contains("layer: 0 is a dense layer"),
                byId.get(12L).getError().getMessage());
        assertFalse(byId.get(12L).hasOutput());
        var t = byId.get(11L).getTiming();
        assertTrue(t.getComputeNanos() > 0 && t.getReceivedUnixNanos() > 0
                && t.getRepliedUnixNanos() >= t.getReceivedUnixNanos(), t.toString());
        requests.onCompleted();
        assertEquals(Status.Code.OK, ended.get(30, java.util.concurrent.TimeUnit.SECONDS).getCode());
    }

    @Test
    void bf16AndF16HiddenStatesAreDecodedExactly() {
        float[] x = TestVectors.gaussian(2 * D, 9);
        float[] rounded = new float[x.length];
        ByteBuffer bf = ByteBuffer.allocate(x.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer hf = ByteBuffer.allocate(x.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        float[] roundedHalf = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            short b = Bf16.fromFloat(x[i]);
            bf.putShort(b);
            rounded[i] = Bf16.toFloat(b);
            short h = Float.floatToFloat16(x[i]);
            hf.putShort(h);
            roundedHalf[i] = Float.float16ToFloat(h);
        }
        Tensor bf16 = Tensor.newBuilder().setDtype(DType.BF16).addShape(2).addShape(D)
                .setData(ByteString.copyFrom(bf.array())).build();
        Tensor f16 = Tensor.newBuilder().setDtype(DType.F16).addShape(2).addShape(D)
                .setData(ByteString.copyFrom(hf.array())).build();
        ExpertRequest viaBf16 = valid(x).setHidden(bf16).build();
        ExpertRequest viaF16 = valid(x).setHidden(f16).build();
        float[] wantBf16 = expected(viaBf16, rounded);
        float[] wantF16 = expected(viaF16, roundedHalf);
        assertClose(wantBf16, decode(stub.compute(viaBf16).getOutput()), "bf16");
        assertClose(wantF16, decode(stub.compute(viaF16).getOutput()), "f16");
    }

    @Test
    void aBf16OutputDtypeAnswersTheSumsRoundedToBf16() {
        float[] x = TestVectors.gaussian(2 * D, 10);
        ExpertRequest req = valid(x).setOutputDtype(DType.BF16).build();
        Tensor out = stub.compute(req).getOutput();
        assertEquals(DType.BF16, out.getDtype());
        assertEquals(List.of(2L, (long) D), out.getShapeList());
        assertEquals(2 * D * 2, out.getData().size());
        float[] sums = decode(stub.compute(valid(x).setOutputDtype(DType.F32).build()).getOutput());
        ByteBuffer got = out.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < sums.length; i++) {
            // Rounded to nearest: within half a bf16 step (2^-8 relative) of the float32 sum (which may itself
            // differ in the last float32 bit between two calls, see assertClose).
            assertEquals(sums[i], Bf16.toFloat(got.getShort(2 * i)), Math.abs(sums[i]) * 0x1p-8f, "element " + i);
        }
    }

    private static void assertInvalid(UnaryOperator<ExpertRequest.Builder> breakIt, String... messageParts) {
        ExpertRequest req = breakIt.apply(valid(TestVectors.gaussian(2 * D, 1))).build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub.compute(req));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.toString());
        for (String part : messageParts) {
            assertTrue(e.getStatus().getDescription().contains(part),
                    "'" + e.getStatus().getDescription() + "' should mention '" + part + "'");
        }
    }

    @Test
    void aBadDtypeIsInvalidArgumentNamingTheField() {
        assertInvalid(b -> b.setHidden(b.getHidden().toBuilder().setDtype(DType.DTYPE_UNSPECIFIED)),
                "hidden.dtype", "DTYPE_UNSPECIFIED", "BF16, F16 or F32");
        assertInvalid(b -> b.setOutputDtype(DType.F16), "output_dtype", "F16", "F32 or BF16");
    }

    @Test
    void aBadShapeIsInvalidArgumentNamingTheHiddenSize() {
        assertInvalid(b -> b.setHidden(b.getHidden().toBuilder().setShape(1, 64).setShape(0, 4)),
                "hidden.shape", "[4, 64]", "expected [rows >= 1, 128]");
        assertInvalid(b -> b.setHidden(b.getHidden().toBuilder().clearShape().addShape(2 * D)),
                "hidden.shape", "[256]");
    }

    @Test
    void dataOfTheWrongLengthIsInvalidArgumentWithTheExpectedByteCount() {
        assertInvalid(b -> b.setHidden(b.getHidden().toBuilder().setData(ByteString.copyFrom(new byte[100]))),
                "hidden.data", "100 bytes", "2 x 128 x 4 = 1024");
    }

    @Test
    void anUnknownOrDenseLayerIsInvalidArgumentListingTheMoeLayers() {
        assertInvalid(b -> b.setLayer(7), "layer: 7 is not a layer of this model", "3 layers", "MoE layers: 1..2");
        assertInvalid(b -> b.setLayer(0), "layer: 0 is a dense layer", "MoE layers: 1..2");
    }

    @Test
    void anExpertOwnedByAnotherShardIsInvalidArgumentNamingExpertAndShard() {
        assertInvalid(b -> b.setExpertIds(3, 12), "expert_ids[3]", "expert 12", "shard 0/2", "experts 0..7");
        assertInvalid(b -> b.setExpertIds(4, 99), "expert_ids[4]", "99 is outside [0, 16)");
    }

    @Test
    void idsOrWeightsOfTheWrongLengthAreInvalidArgumentWithRowsTimesTopK() {
        assertInvalid(b -> b.addExpertIds(1), "expert_ids: 13 entries", "2 * 6 = 12");
        assertInvalid(b -> b.addExpertWeights(1f), "expert_weights: 13 entries", "2 * 6 = 12");
        assertInvalid(b -> b.setTopK(0), "top_k: 0");
    }

    @Test
    void infoDescribesTheShard() {
        ShardInfo info = stub.info(ShardInfoRequest.getDefaultInstance());
        assertEquals(0, info.getShardIndex());
        assertEquals(2, info.getShardCount());
        assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7), info.getOwnedExpertsList());
        assertTrue(info.getHoldsShared());
        assertTrue(info.getReady());
        assertEquals(D, info.getHiddenSize());
        assertEquals(3, info.getNumLayers());
        assertEquals(shard.weightBytes(), info.getWeightBytes());
        assertEquals("tiny", info.getModel());
    }

    @Test
    void whileLoadingInfoSaysNotReadyAndComputeIsUnavailable() {
        ShardSettings settings = ShardSettings.resolve(2, OptionalInt.of(1), OptionalInt.empty(), 1, false);
        ServedShard loading = new ServedShard(settings, TestCheckpoints.TINY, "tiny");
        try (PlainExpertServer s = PlainExpertServer.start(loading, "127.0.0.1", 0, 1, new SimpleMeterRegistry())) {
            ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", s.port()).usePlaintext().build();
            try {
                ExpertsGrpc.ExpertsBlockingStub st = ExpertsGrpc.newBlockingStub(ch);
                ShardInfo info = st.info(ShardInfoRequest.getDefaultInstance());
                assertFalse(info.getReady());
                assertEquals(List.of(8, 9, 10, 11, 12, 13, 14, 15), info.getOwnedExpertsList());
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                        () -> st.compute(valid(TestVectors.gaussian(2 * D, 1)).build()));
                assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
                assertTrue(e.getStatus().getDescription().contains("shard 1/2 is still loading"), e.toString());
            } finally {
                ch.shutdownNow();
            }
        }
    }

    @Test
    void aFullComputeQueueAnswersResourceExhausted() {
        ExpertsEndpoint saturated = new ExpertsEndpoint(server.served(), r -> {
            throw new RejectedExecutionException("full");
        }, new ExpertMetrics(new SimpleMeterRegistry(), TestCheckpoints.TINY, server.served().placement()));
        StatusRuntimeException[] error = new StatusRuntimeException[1];
        saturated.compute(valid(TestVectors.gaussian(2 * D, 1)).build(),
                new io.grpc.stub.StreamObserver<>() {
                    public void onNext(ExpertResponse value) {
                    }

                    public void onError(Throwable t) {
                        error[0] = (StatusRuntimeException) t;
                    }

                    public void onCompleted() {
                    }
                });
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, error[0].getStatus().getCode());
        assertTrue(error[0].getStatus().getDescription().contains("compute queue is full"));
    }
}
