package dev.dsv2.gateway.router;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.ServingSettings;
import dev.dsv2.testsupport.TestCheckpoints;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link GrpcRouterClient} against the internal Router API served from a real embedded router (the tiny test
 * checkpoint) over loopback gRPC: the same tokens and logprobs as calling the embedded router directly, abort
 * reaching the far side, errors and status mapped.
 */
class GrpcRouterClientTest {
    static EmbeddedRouter backend;
    static Server server;
    static GrpcRouterClient client;

    @BeforeAll
    static void start() throws Exception {
        backend = EmbeddedRouter.load(TestCheckpoints.tiny(7),
                ServingSettings.defaults().withThreads(2).withKvCacheTokens(4096)
                        .withContextLimit(2048).withBatchLimits(256, 16), line -> { });
        server = ServerBuilder.forPort(0).addService(new LoopbackRouterService(backend)).build().start();
        client = new GrpcRouterClient("localhost:" + server.getPort());
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        backend.close();
    }

    private static RouterRequest greedy(String id, int maxTokens, int logprobs) {
        return new RouterRequest(id, new int[]{0, 17, 300, 42}, SamplingParams.builder().temperature(0)
                .maxTokens(maxTokens).logprobs(logprobs).ignoreEos(true).build());
    }

    @Test
    void remoteGenerationEqualsEmbeddedGenerationTokenForToken() throws Exception {
        RouterEvents direct = new RouterEvents();
        backend.generate(greedy("direct", 8, 3), direct);
        direct.await();
        RouterEvents remote = new RouterEvents();
        client.generate(greedy("remote", 8, 3), remote);
        remote.await();
        assertArrayEquals(direct.tokenArray(), remote.tokenArray());
        assertEquals(FinishReason.LENGTH, remote.reason);
        assertEquals(8, remote.completionTokens);
        // Logprobs cross the wire as float32 unchanged; the engine itself may round differently in the last bit
        // between runs (JIT tiers of the vector kernels), hence the tolerance.
        for (int i = 0; i < 8; i++) {
            assertEquals(direct.logprobs.get(i), remote.logprobs.get(i), 1e-4f);
            assertArrayEquals(direct.tops.get(i).ids(), remote.tops.get(i).ids());
            assertArrayEquals(direct.tops.get(i).logprobs(), remote.tops.get(i).logprobs(), 1e-4f);
            assertEquals(remote.tops.get(i).id(0), remote.tokens.get(i), "greedy: the chosen token ranks first");
        }
    }

    @Test
    void withoutLogprobsTheLogprobIsNaNAndThereIsNoTopList() throws Exception {
        RouterEvents remote = new RouterEvents();
        client.generate(greedy("plain", 3, 0), remote);
        remote.await();
        assertTrue(remote.logprobs.stream().allMatch(x -> x.isNaN()));
        assertTrue(remote.tops.stream().allMatch(t -> t == null));
    }

    @Test
    void abortCancelsTheCallAndTheRouterFreesTheSequence() throws Exception {
        RouterEvents remote = new RouterEvents();
        client.generate(greedy("long", 1500, 0), remote);
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (remote.tokenArray().length == 0) {
            if (System.nanoTime() > deadline) {
                fail("no token arrived");
            }
            Thread.sleep(2);
        }
        assertTrue(client.abort("long"));
        remote.await();
        assertEquals(FinishReason.ABORT, remote.reason);
        assertFalse(client.abort("long"), "already ended");
        deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (backend.cache().usedBlocks() != 0) {
            if (System.nanoTime() > deadline) {
                fail("the router kept " + backend.cache().usedBlocks() + " blocks after the call was cancelled");
            }
            Thread.sleep(5);
        }
    }

    @Test
    void aRefusalArrivesAsAnErrorWithItsKindAndMessage() throws Exception {
        RouterEvents remote = new RouterEvents();
        client.generate(new RouterRequest("bad", new int[]{1, 5000}, SamplingParams.greedy(2)), remote);
        remote.await();
        assertEquals(ErrorKind.INVALID_ARGUMENT, remote.errorKind);
        assertTrue(remote.errorMessage.contains("5000"), remote.errorMessage);
    }

    @Test
    void statusComesFromTheRouterAndAnUnreachableRouterIsNotReady() {
        RouterStatus s = client.status();
        assertTrue(s.ready());
        assertEquals(backend.cache().totalBlocks(), s.kvBlocksTotal());
        assertEquals(64, s.kvBlockSize());
        assertEquals(1024, s.vocabSize());

        try (GrpcRouterClient nowhere = new GrpcRouterClient("localhost:1")) {
            RouterStatus down = nowhere.status();
            assertFalse(down.ready());
            assertTrue(down.detail().contains("localhost:1"), down.detail());
            RouterEvents events = new RouterEvents();
            nowhere.generate(greedy("x", 2, 0), events);
            events.await();
            assertEquals(ErrorKind.UNAVAILABLE, events.errorKind);
            assertTrue(events.errorMessage.contains("localhost:1"), events.errorMessage);
        } catch (Exception e) {
            fail(e);
        }
    }
}
