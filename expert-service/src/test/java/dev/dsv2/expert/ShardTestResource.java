package dev.dsv2.expert;

import dev.dsv2.testsupport.TestCheckpoints;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.Map;

/**
 * Configures the app under test as pod ordinal 3 of a 2-shard x 2-replica StatefulSet (so shard 1/2, replica 1)
 * over the tiny test checkpoint, its gRPC server on a free loopback port.
 */
public class ShardTestResource implements QuarkusTestResourceLifecycleManager {
    static volatile int grpcPort;

    @Override
    public Map<String, String> start() {
        Path model = TestCheckpoints.tiny(21);
        try (ServerSocket s = new ServerSocket(0)) {
            grpcPort = s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Map.of(
                "dsv2.model.dir", model.toString(),
                "dsv2.shard.count", "2",
                "dsv2.shard.replicas", "2",
                "dsv2.shard.ordinal", "3",
                "dsv2.threads", "1",
                "quarkus.grpc.server.test-port", Integer.toString(grpcPort));
    }

    @Override
    public void stop() {
    }
}
