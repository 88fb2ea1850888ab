package dev.dsv2.router;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.model.ExpertShard;
import dev.dsv2.engine.model.Pending;
import dev.dsv2.engine.model.HostRoutedExperts;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.ExpertWire;
import dev.dsv2.engine.serve.ServingException;
import dev.dsv2.engine.serve.WakeLatency;
import dev.dsv2.proto.internal.v1.ExpertRequest;
import dev.dsv2.proto.tls.InternalTls;
import io.grpc.Status;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Collectors;

/**
 * Routed experts on remote expert-service shards ({@code dsv2.router.experts}).
 *
 * <p><b>Discovery</b> ({@link ShardDiscovery}). At start a background thread asks every pod which shard it serves
 * until each of the {@code N} shard indices has at least one ready, compatible pod; until then {@link #ready()} is
 * false (router readiness stays DOWN) and calls fail with UNAVAILABLE naming what is missing. Replicas that answer
 * later join the rotation.
 *
 * <p><b>Dispatch</b> ({@link #start}). Per MoE layer, every shard gets one call carrying each row that has at least
 * one (expert, weight) pair the shard owns, each row once, with all its {@code top_k} pairs; pairs owned elsewhere
 * carry expert {@code -1}. The hidden rows travel as {@link ExpertWire} ({@code dsv2.expert-wire}: bf16 by default,
 * half the bytes; float32 makes a distributed run give the embedded run's tokens), encoded straight into one pooled
 * buffer per layer in flight and wrapped without a copy; the shards answer in the same format. All shard calls of a layer go out at once, each on its pod's long-lived
 * {@link ComputeStream} (timeout {@code dsv2.router.expert-timeout} per call); {@link Pending#await()} adds the
 * partial results straight from the reply bytes into the output, in shard order (deterministic), and reports each
 * call's {@link CallTimeline} (serialize, send, shard queue, shard compute, reply, deserialize). With shared experts placed on the shards ({@code dsv2.router.shared-experts=shards}) exactly
 * one shard per layer (rotating) also gets every row with {@code include_shared}.
 *
 * <p><b>Failures.</b> A call that fails UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED or CANCELLED (by the
 * pod, e.g. shutting down) is retried on the shard's next replica (round-robin, healthy first); when all fail, the
 * step fails with {@code ServingException(UNAVAILABLE, "expert shard 1/2 (host:port) is unreachable: <cause>")}:
 * the scheduler fails that step's requests and keeps serving, and a pod that comes back is used by the next call
 * (see {@link ShardEndpoint}). Any other status is a bug or a mismatch and fails the step as INTERNAL.
 */
public final class RemoteExperts implements HostRoutedExperts, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(RemoteExperts.class.getName());

    /**
     * @param wire           activations on the wire, both ways
     * @param timeout        deadline of one Compute call (one attempt)
     * @param sharedOnShards whether the shards add the shared experts (the router then loads none)
     * @param maxBackoff     the longest pause between discovery rounds
     * @param internalTls    mTLS to the shards ({@code dsv2.internal-tls.*}), or empty for plaintext
     */
    public record Options(ExpertWire wire, Duration timeout, boolean sharedOnShards, Duration maxBackoff,
                          Optional<InternalTls> internalTls) {
        public static Options defaults() {
            return new Options(ExpertWire.BF16, Duration.ofSeconds(30), false, Duration.ofSeconds(2), Optional.empty());
        }

        public Options withWire(ExpertWire w) {
            return new Options(w, timeout, sharedOnShards, maxBackoff, internalTls);
        }

        public Options withSharedOnShards(boolean s) {
            return new Options(wire, timeout, s, maxBackoff, internalTls);
        }

        public Options withTimeout(Duration t) {
            return new Options(wire, t, sharedOnShards, maxBackoff, internalTls);
        }

        public Options withInternalTls(Optional<InternalTls> tls) {
            return new Options(wire, timeout, sharedOnShards, maxBackoff, tls);
        }
    }

    /** Sees every Compute attempt, for metrics. */
    @FunctionalInterface
    public interface CallObserver {
        /** @param code OK or the failure's status code */
        void onCall(int shardIndex, String endpoint, long nanos, Status.Code code);

        /**
         * One MoE layer's expert work for one (micro-)batch: {@code inFlightNanos} from sending the calls to having
         * combined every shard's answer, of which the caller spent {@code waitedNanos} blocked (the rest was hidden
         * behind other work: shared experts, the other micro-batch's attention).
         */
        default void onLayer(long inFlightNanos, long waitedNanos) {
        }

        /** The timeline of one answered shard call (the attempt that succeeded). */
        default void onCallTimeline(CallTimeline timeline) {
        }

        CallObserver NONE = (shard, endpoint, nanos, code) -> { };
    }

    private final ModelConfig config;
    private final Options options;
    private final ShardDiscovery discovery;
    private final CallObserver observer;
    private final AtomicLong steps = new AtomicLong();
    private final BufferPool buffers = new BufferPool();
    // A layer below the last one starts a new forward pass; the two micro-batches of one step share a number.
    private volatile int lastLayer = Integer.MAX_VALUE;

    private RemoteExperts(ModelConfig config, ShardDiscovery discovery, Options options, CallObserver observer) {
        this.config = config;
        this.discovery = discovery;
        this.options = options;
        this.observer = observer;
    }

    /**
     * Connects to {@code addresses} ({@code host:port}, every pod of every shard) and starts discovery.
     *
     * @throws IllegalArgumentException for an empty list, a malformed or duplicate address, or a dense model
     */
    public static RemoteExperts connect(ModelConfig config, List<String> addresses, Options options,
                                        CallObserver observer) {
        if (config.nRoutedExperts() < 1) {
            throw new IllegalArgumentException("dsv2.router.experts is set but the model has no routed experts");
        }
        ShardDiscovery discovery = ShardDiscovery.start(config, addresses, options.sharedOnShards(),
                options.maxBackoff(), options.internalTls());
        return new RemoteExperts(config, discovery, options, observer == null ? CallObserver.NONE : observer);
    }

    /** Whether every shard index has a ready pod (calls can be served). */
    public boolean ready() {
        return discovery.ready();
    }

    /** Waits up to {@code timeout} for {@link #ready()}. */
    public boolean awaitReady(Duration timeout) throws InterruptedException {
        return discovery.awaitReady(timeout);
    }

    /** What the router knows of its shards, e.g. for readiness: known pods, missing shards, pods not answering. */
    public String status() {
        return discovery.status();
    }

    public Options options() {
        return options;
    }

    @Override
    public void compute(int layer, float[] x, int rows, int[] ids, float[] weights, int topK, float[] out) {
        start(layer, x, rows, ids, weights, topK, out).await();
    }

    @Override
    public Pending start(int layer, float[] x, int rows, int[] ids, float[] weights, int topK, float[] out) {
        long started = System.nanoTime();
        ShardTopology t = discovery.topology();
        if (t == null) {
            throw new ServingException(ErrorKind.UNAVAILABLE, "expert shards are not all known yet: "
                    + discovery.missing());
        }
        int d = config.hiddenSize();
        long step = layer < lastLayer ? steps.incrementAndGet() : steps.get();
        lastLayer = layer;
        int n = t.shardCount;
        ShardTopology.Group shared = options.sharedOnShards() ? t.sharedGroup(layer) : null;
        // rowsOf[s][0, count[s]): the rows shard s gets, ascending.
        int[][] rowsOf = new int[n][];
        int[] count = new int[n];
        int[] lastRow = new int[n];
        Arrays.fill(lastRow, -1);
        for (int s = 0; s < n; s++) {
            rowsOf[s] = new int[rows];
        }
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < topK; k++) {
                int e = ids[r * topK + k];
                int s = t.shardFor(layer, e, r);
                if (lastRow[s] != r) {
                    lastRow[s] = r;
                    rowsOf[s][count[s]++] = r;
                }
            }
        }
        if (shared != null) {
            for (int r = 0; r < rows; r++) {
                rowsOf[shared.index][r] = r;
            }
            count[shared.index] = rows;
        }
        int total = 0;
        for (int s = 0; s < n; s++) {
            total += count[s];
        }
        // One pooled buffer holds this layer's hidden rows for every shard; it returns to the pool once every call
        // (retries included) is over.
        ByteBuffer layerBuffer = buffers.take(total * d * options.wire().bytes());
        List<CompletableFuture<ComputeStream.Reply>> calls = new ArrayList<>(n);
        long[] serialize = new long[n];
        int offset = 0;
        for (int s = 0; s < n; s++) {
            if (count[s] == 0) {
                calls.add(null);
                continue;
            }
            long e0 = System.nanoTime();
            int bytes = count[s] * d * options.wire().bytes();
            ExpertRequest.Builder req = ExpertRequest.newBuilder().setLayer(layer).setTopK(topK).setStep(step)
                    .setIncludeShared(shared != null && shared.index == s)
                    .setOutputDtype(HiddenCodec.dtype(options.wire()))
                    .setHidden(HiddenCodec.encodeRows(x, d, rowsOf[s], count[s], options.wire(),
                            layerBuffer.slice(offset, bytes)));
            offset += bytes;
            for (int i = 0; i < count[s]; i++) {
                int base = rowsOf[s][i] * topK;
                for (int k = 0; k < topK; k++) {
                    boolean mine = t.shardFor(layer, ids[base + k], rowsOf[s][i]) == s;
                    req.addExpertIds(mine ? ids[base + k] : ExpertShard.SKIP);
                    req.addExpertWeights(mine ? weights[base + k] : 0f);
                }
            }
            ExpertRequest built = req.build();
            serialize[s] = System.nanoTime() - e0;
            calls.add(callWithFailover(t.groups[s], built, layer));
        }
        CompletableFuture.allOf(calls.stream().filter(c -> c != null).toArray(CompletableFuture[]::new))
                .whenComplete((ok, error) -> buffers.give(layerBuffer));
        return () -> {
            long waitFrom = System.nanoTime();
            combine(t, calls, rowsOf, count, rows, d, out, serialize);
            long done = System.nanoTime();
            observer.onLayer(done - started, done - waitFrom);
        };
    }

    private void combine(ShardTopology t, List<CompletableFuture<ComputeStream.Reply>> calls, int[][] rowsOf,
                         int[] count, int rows, int d, float[] out, long[] serialize) {
        Arrays.fill(out, 0, rows * d, 0f);
        for (int s = 0; s < calls.size(); s++) {
            CompletableFuture<ComputeStream.Reply> call = calls.get(s);
            if (call == null) {
                continue;
            }
            ComputeStream.Reply reply;
            try {
                if (call.isDone()) {
                    reply = call.get();
                } else {
                    try (WakeLatency.Scope waiting = WakeLatency.whileWaiting()) { // run as soon as the answer is in
                        reply = call.get();
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ServingException(ErrorKind.UNAVAILABLE, "interrupted while waiting for "
                        + t.groups[s].label());
            } catch (ExecutionException e) {
                if (e.getCause() instanceof ServingException se) {
                    throw se;
                }
                throw new ServingException(ErrorKind.INTERNAL, t.groups[s].label() + ": " + e.getCause());
            }
            long d0 = System.nanoTime();
            try {
                HiddenCodec.addRows(reply.response().getOutput(), count[s], d, rowsOf[s], out, options.wire(),
                        t.groups[s].label());
            } catch (IllegalStateException e) {
                throw new ServingException(ErrorKind.INTERNAL, e.getMessage());
            }
            observer.onCallTimeline(CallTimeline.of(s, serialize[s], reply, System.nanoTime() - d0));
        }
    }

    private CompletableFuture<ComputeStream.Reply> callWithFailover(ShardTopology.Group group, ExpertRequest request,
                                                                    int layer) {
        CompletableFuture<ComputeStream.Reply> result = new CompletableFuture<>();
        attempt(group, group.attemptOrder(), 0, request, layer, null, result);
        return result;
    }

    private void attempt(ShardTopology.Group group, List<ShardEndpoint> order, int i, ExpertRequest request,
                         int layer, Status last, CompletableFuture<ComputeStream.Reply> result) {
        if (i == order.size()) {
            String tried = order.stream().map(ShardEndpoint::address).collect(Collectors.joining(", "));
            result.completeExceptionally(new ServingException(ErrorKind.UNAVAILABLE, group.label() + " (" + tried
                    + ") is unreachable: " + ShardEndpoint.describe(last)));
            return;
        }
        ShardEndpoint ep = order.get(i);
        long t0 = System.nanoTime();
        ep.compute(request, options.timeout()).whenComplete((response, error) -> {
            Status status = error == null ? Status.OK : Status.fromThrowable(error);
            observer.onCall(group.index, ep.address(), System.nanoTime() - t0, status.getCode());
            if (error == null) {
                ep.markUp();
                result.complete(response);
            } else if (retryable(status.getCode())) {
                String why = ShardEndpoint.describe(status);
                ep.markDown(why);
                if (i + 1 < order.size()) {
                    LOG.log(Level.WARNING, "{0} replica {1} failed layer {2}: {3}; trying {4}", new Object[]{
                            group.label(), ep.address(), layer, why, order.get(i + 1).address()});
                }
                attempt(group, order, i + 1, request, layer, status, result);
            } else {
                result.completeExceptionally(new ServingException(ErrorKind.INTERNAL, group.label() + " ("
                        + ep.address() + ") failed layer " + layer + ": " + ShardEndpoint.describe(status)));
            }
        });
    }

    /**
     * Failures another replica (or a later call) may not have: the pod is unreachable or went away, too slow, or
     * saturated. CANCELLED counts too: the router never cancels its own calls, so it means the pod cancelled the
     * call, as a pod that is shutting down does with the calls in flight.
     */
    private static boolean retryable(Status.Code code) {
        return code == Status.Code.UNAVAILABLE || code == Status.Code.DEADLINE_EXCEEDED
                || code == Status.Code.RESOURCE_EXHAUSTED || code == Status.Code.CANCELLED;
    }

    @Override
    public void close() {
        discovery.close();
    }
}
