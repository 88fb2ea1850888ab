package dev.dsv2.expert;

import dev.dsv2.proto.tls.InternalTls;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.MeterRegistry;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * An expert shard served by a plain grpc-java (Netty) server, without Quarkus, for tests (this module's and, through
 * its test-jar, the router's): real shards on loopback ports that can be killed and restarted in a test. Same
 * {@link ExpertsEndpoint}, same bounded compute executor and limits as the Quarkus service.
 */
public final class PlainExpertServer implements AutoCloseable {
    /** The largest Compute request or response accepted, as in the service's application.properties. */
    public static final int MAX_MESSAGE_BYTES = 256 << 20;

    private final Server server;
    private final ThreadPoolExecutor compute;
    private final ServedShard served;

    private PlainExpertServer(Server server, ThreadPoolExecutor compute, ServedShard served) {
        this.server = server;
        this.compute = compute;
        this.served = served;
    }

    /**
     * Starts serving {@code served} on {@code host:port} (port 0 picks a free one).
     *
     * @param computeThreads Compute calls running at once; 64 more may queue before RESOURCE_EXHAUSTED
     */
    public static PlainExpertServer start(ServedShard served, String host, int port, int computeThreads,
                                          MeterRegistry registry) {
        return start(served, host, port, computeThreads, registry, Optional.empty());
    }

    /** As {@link #start(ServedShard, String, int, int, MeterRegistry)}, over mTLS when {@code tls} is set. */
    public static PlainExpertServer start(ServedShard served, String host, int port, int computeThreads,
                                          MeterRegistry registry, Optional<InternalTls> tls) {
        ThreadPoolExecutor compute = new ThreadPoolExecutor(computeThreads, computeThreads, 60, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(64), Thread.ofPlatform().name("dsv2-expert-compute-", 1).daemon().factory());
        ExpertsEndpoint endpoint = new ExpertsEndpoint(served, compute,
                new ExpertMetrics(registry, served.config(), served.placement()));
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
                .addService(endpoint)
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .flowControlWindow(ExpertsEndpoint.FLOW_CONTROL_WINDOW)
                .directExecutor(); // the endpoint hands calls to its compute pool without blocking
        tls.ifPresent(t -> builder.sslContext(t.serverContext()));
        Server server = builder.build();
        try {
            server.start();
        } catch (IOException e) {
            compute.shutdownNow();
            throw new UncheckedIOException("cannot serve " + served.settings().label() + " on " + host + ":" + port
                    + ": " + e.getMessage(), e);
        }
        return new PlainExpertServer(server, compute, served);
    }

    public int port() {
        return server.getPort();
    }

    public ServedShard served() {
        return served;
    }

    /**
     * Stops at once: open connections are closed and calls in flight fail (what a crashed shard looks like to its
     * clients). The shard's weights stay open; the caller owns {@link #served()}.
     */
    @Override
    public void close() {
        server.shutdownNow();
        compute.shutdownNow();
        try {
            server.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
