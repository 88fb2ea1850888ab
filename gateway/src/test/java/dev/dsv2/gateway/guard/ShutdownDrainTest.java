package dev.dsv2.gateway.guard;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.gateway.core.GenerationService;
import dev.dsv2.gateway.core.InFlightLimit;
import dev.dsv2.gateway.core.ServingObserver;
import dev.dsv2.gateway.model.GatewaySettings;
import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.openai.Endpoint;
import dev.dsv2.gateway.openai.OpenAiApi;
import dev.dsv2.gateway.openai.SseChannel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shutdown drain on a real model: in-flight streams finish within the drain timeout as they would have, and
 * streams still running at its end are ended well-formed (a last chunk with {@code finish_reason: "abort"}, then
 * {@code [DONE]}) instead of being cut; from the first moment new requests are refused (draining is visible).
 */
class ShutdownDrainTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static ModelHost host;
    static GenerationService generations;

    @BeforeAll
    static void load() {
        host = new ModelHost(GatewaySettings.defaults(Path.of("target/dsv2-cache")).withKvCacheTokens(8192));
        host.load();
        assertEquals(ModelHost.State.READY, host.state(), host.describe());
        generations = new GenerationService(host, ServingObserver.NONE);
    }

    @AfterAll
    static void close() {
        host.close();
    }

    /** Server-sent events as a client would see them. */
    static final class Events implements SseChannel {
        final List<JsonNode> events = new CopyOnWriteArrayList<>();
        final CountDownLatch done = new CountDownLatch(1);
        final CountDownLatch first = new CountDownLatch(1);

        @Override
        public void send(JsonNode event) {
            events.add(event);
            first.countDown();
        }

        @Override
        public void done() {
            done.countDown();
        }

        String finishReason() {
            return events.stream().map(e -> e.at("/choices/0/finish_reason")).filter(JsonNode::isTextual)
                    .map(JsonNode::asText).findFirst().orElse(null);
        }
    }

    JsonNode body(int maxTokens) throws Exception {
        return JSON.readTree("""
                {"model": "%s", "prompt": "Count on and on", "max_tokens": %d, "temperature": 0,
                 "ignore_eos": true, "stream": true}""".formatted(host.served().name(), maxTokens));
    }

    @Test
    void streamsStillRunningAtTheTimeoutEndWithAbortAndDone() throws Exception {
        InFlightLimit interactive = InFlightLimit.unlimited("interactive");
        OpenAiApi api = new OpenAiApi(generations, interactive);
        Events events = new Events();
        assertInstanceOf(OpenAiApi.StreamStart.Started.class, api.stream(Endpoint.COMPLETIONS, body(4000), events));
        assertTrue(events.first.await(30, TimeUnit.SECONDS), "the stream started");

        ShutdownDrain drain = new ShutdownDrain(Duration.ofMillis(300));
        assertFalse(drain.draining());
        CompletableFuture<Integer> aborted = CompletableFuture.supplyAsync(
                () -> drain.drain(interactive::inFlight, () -> generations.abortAll(label -> true)));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!drain.draining() && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertTrue(drain.draining(), "draining (readiness DOWN, new requests refused) from the start");

        assertEquals(1, aborted.get(30, TimeUnit.SECONDS));
        assertTrue(events.done.await(10, TimeUnit.SECONDS), "the stream ended with [DONE]");
        assertEquals("abort", events.finishReason());
        assertEquals(0, interactive.inFlight());
    }

    @Test
    void streamsThatFinishWithinTheTimeoutRunToCompletion() throws Exception {
        InFlightLimit interactive = InFlightLimit.unlimited("interactive");
        OpenAiApi api = new OpenAiApi(generations, interactive);
        Events events = new Events();
        api.stream(Endpoint.COMPLETIONS, body(8), events);

        int aborted = new ShutdownDrain(Duration.ofSeconds(60)).drain(interactive::inFlight,
                () -> generations.abortAll(label -> true));

        assertEquals(0, aborted);
        assertTrue(events.done.await(10, TimeUnit.SECONDS));
        assertEquals("length", events.finishReason());
    }
}
