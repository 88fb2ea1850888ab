package dev.dsv2.router;

import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.testsupport.TestCheckpoints;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.Map;

/**
 * The router app under test: the tiny test checkpoint, two real expert shards on loopback of which only shard 0 runs
 * at first ({@link #startShardOne()} brings shard 1 up), an f32 wire (so tokens equal the in-process model's), a
 * 256-token KV cache (4 blocks of 64) and a 512-token context limit.
 */
public class RouterTestResource implements QuarkusTestResourceLifecycleManager {
    static volatile Path modelDir;
    static volatile int grpcPort;
    private static volatile ExpertShards shards;
    private static VectorBackend backend;

    @Override
    public Map<String, String> start() {
        modelDir = TestCheckpoints.tiny(13);
        try (ServerSocket s = new ServerSocket(0)) {
            grpcPort = s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        backend = new VectorBackend(1);
        shards = ExpertShards.start(modelDir, backend, 1, 1);
        shards.kill(1);
        return Map.of(
                "dsv2.model.dir", modelDir.toString(),
                "dsv2.router.experts", String.join(",", shards.addresses()),
                "dsv2.expert-wire", "f32",
                "dsv2.kv-cache.tokens", "256",
                "dsv2.context-limit", "512",
                "dsv2.threads", "1",
                "quarkus.grpc.server.test-port", Integer.toString(grpcPort));
    }

    /** Starts expert shard 1 (on the port the router was told); also after {@link #killShardOne()}. */
    static void startShardOne() {
        shards.restart(1);
    }

    static void killShardOne() {
        shards.kill(1);
    }

    static int shardOnePort() {
        return shards.port(1);
    }

    @Override
    public void stop() {
        shards.close();
        backend.close();
    }
}
