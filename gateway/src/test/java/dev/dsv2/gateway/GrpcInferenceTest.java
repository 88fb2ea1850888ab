package dev.dsv2.gateway;

import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.proto.v1.AbortRequest;
import dev.dsv2.proto.v1.ChatMessage;
import dev.dsv2.proto.v1.ChatMessages;
import dev.dsv2.proto.v1.DetokenizeRequest;
import dev.dsv2.proto.v1.GenerateChunk;
import dev.dsv2.proto.v1.GenerateRequest;
import dev.dsv2.proto.v1.InferenceGrpc;
import dev.dsv2.proto.v1.ListModelsRequest;
import dev.dsv2.proto.v1.ModelInfo;
import dev.dsv2.proto.v1.TokenIds;
import dev.dsv2.proto.v1.TokenizeRequest;
import dev.dsv2.proto.v1.TokenizeResponse;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The public gRPC API {@code dsv2.v1.Inference} in embedded mode, on the demo model with the real tokenizer. */
@QuarkusTest
class GrpcInferenceTest {
    @Inject
    ModelHost host;

    @ConfigProperty(name = "quarkus.grpc.server.test-port")
    int grpcPort;

    ManagedChannel channel;
    InferenceGrpc.InferenceBlockingStub blocking;
    ServedModel model;

    @BeforeEach
    void connect() {
        model = ServedModelSupport.await(host);
        channel = ManagedChannelBuilder.forAddress("localhost", grpcPort).usePlaintext().build();
        blocking = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    @AfterEach
    void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private static List<GenerateChunk> collect(Iterator<GenerateChunk> stream) {
        List<GenerateChunk> chunks = new ArrayList<>();
        stream.forEachRemaining(chunks::add);
        return chunks;
    }

    private static String text(List<GenerateChunk> chunks) {
        StringBuilder s = new StringBuilder();
        chunks.forEach(c -> s.append(c.getText()));
        return s.toString();
    }

    private static int[] tokens(List<GenerateChunk> chunks) {
        return chunks.stream().flatMap(c -> c.getTokenIdsList().stream()).mapToInt(Integer::intValue).toArray();
    }

    @Test
    void generateStreamsPromptIdsThenOneChunkPerTokenThenFinishAndUsage() {
        List<GenerateChunk> chunks = collect(blocking.generate(GenerateRequest.newBuilder().setRequestId("g-1")
                .setPrompt("Hello, world!").setMaxTokens(5).setTemperature(0).build()));

        int[] expectedPrompt = model.tokenizer().encodePrompt("Hello, world!");
        assertEquals(0, expectedPrompt[0], "the DeepSeek tokenizer config adds bos (id 0) to a text prompt");
        GenerateChunk first = chunks.getFirst();
        assertArrayEquals(expectedPrompt, first.getPromptIdsList().stream().mapToInt(Integer::intValue).toArray());
        assertEquals("g-1", first.getRequestId());
        assertEquals(1 + 5 + 1, chunks.size(), "prompt chunk, 5 token chunks, final chunk");
        for (GenerateChunk c : chunks.subList(1, 6)) {
            assertEquals(1, c.getTokenIdsCount());
            assertEquals("", c.getFinishReason());
        }
        GenerateChunk last = chunks.getLast();
        assertEquals("length", last.getFinishReason());
        assertEquals(expectedPrompt.length, last.getUsage().getPromptTokens());
        assertEquals(5, last.getUsage().getCompletionTokens());
        assertEquals(expectedPrompt.length + 5, last.getUsage().getTotalTokens());
        assertEquals(model.tokenizer().decode(tokens(chunks), true), text(chunks),
                "the text deltas add up to the decoded output");
    }

    @Test
    void greedyGenerationIsReproducibleAndPromptIdsEqualTheTextPrompt() {
        int[] ids = model.tokenizer().encodePrompt("The quick brown fox");
        List<GenerateChunk> fromText = collect(blocking.generate(GenerateRequest.newBuilder()
                .setPrompt("The quick brown fox").setMaxTokens(6).setTemperature(0).build()));
        GenerateRequest.Builder byIds = GenerateRequest.newBuilder().setMaxTokens(6).setTemperature(0)
                .setPromptIds(TokenIds.newBuilder().addAllIds(java.util.Arrays.stream(ids).boxed().toList()));
        List<GenerateChunk> fromIds = collect(blocking.generate(byIds.build()));
        assertArrayEquals(tokens(fromText), tokens(fromIds));
        assertEquals(text(fromText), text(fromIds));
    }

    @Test
    void chatMessagesAreRenderedWithTheTemplateAndGenerationPrompt() {
        ChatMessages messages = ChatMessages.newBuilder()
                .addMessages(ChatMessage.newBuilder().setRole("system").setContent("Be brief."))
                .addMessages(ChatMessage.newBuilder().setRole("user").setContent("Hi!")).build();
        List<GenerateChunk> chunks = collect(blocking.generate(GenerateRequest.newBuilder().setMessages(messages)
                .setMaxTokens(3).setTemperature(0).build()));
        int[] expected = model.tokenizer().encodeChat(List.of(dev.dsv2.tokenizer.ChatMessage.system("Be brief."),
                dev.dsv2.tokenizer.ChatMessage.user("Hi!")), true);
        int[] promptIds = chunks.getFirst().getPromptIdsList().stream().mapToInt(Integer::intValue).toArray();
        assertArrayEquals(expected, promptIds);
        assertEquals(0, promptIds[0], "bos once, from the template");
        assertTrue(promptIds[1] != 0, "no double bos");
        assertTrue(model.tokenizer().decode(promptIds, false).endsWith("<｜Assistant｜>"),
                "the generation prompt closes the rendering");
        assertEquals(3, chunks.getLast().getUsage().getCompletionTokens());
    }

    @Test
    void stopStringEndsTheOutputRightBeforeIt() {
        GenerateRequest.Builder base = GenerateRequest.newBuilder().setPrompt("Once upon a time").setMaxTokens(24)
                .setTemperature(0);
        String full = text(collect(blocking.generate(base.build())));
        // A stop string taken from the middle of the greedy output (skip leading whitespace-only cuts).
        int from = Math.max(1, full.length() / 3);
        String stop = full.substring(from, Math.min(full.length(), from + 3));
        assertFalse(stop.isBlank(), () -> "pick another stop from: " + full);
        int at = full.indexOf(stop);

        List<GenerateChunk> chunks = collect(blocking.generate(base.clone().addStop(stop).build()));
        assertEquals(full.substring(0, at), text(chunks));
        assertEquals("stop", chunks.getLast().getFinishReason());
        assertTrue(chunks.getLast().getUsage().getCompletionTokens() < 24);
    }

    @Test
    void logprobsGiveTheChosenTokenAndTheTopAlternativesBestFirst() {
        List<GenerateChunk> chunks = collect(blocking.generate(GenerateRequest.newBuilder().setPrompt("Hello")
                .setMaxTokens(4).setTemperature(0).setLogprobs(3).build()));
        List<GenerateChunk> tokenChunks = chunks.subList(1, chunks.size() - 1);
        assertEquals(4, tokenChunks.size());
        for (GenerateChunk c : tokenChunks) {
            assertEquals(1, c.getLogprobsCount());
            var lp = c.getLogprobs(0);
            assertEquals(c.getTokenIds(0), lp.getChosen().getTokenId());
            assertEquals(3, lp.getTopCount());
            assertEquals(lp.getChosen().getTokenId(), lp.getTop(0).getTokenId(), "greedy picks the best token");
            assertEquals(lp.getChosen().getLogprob(), lp.getTop(0).getLogprob(), 1e-6);
            assertTrue(lp.getTop(0).getLogprob() >= lp.getTop(1).getLogprob());
            assertTrue(lp.getTop(1).getLogprob() >= lp.getTop(2).getLogprob());
            assertTrue(lp.getChosen().getLogprob() <= 0);
            assertEquals(model.tokenizer().decode(new int[]{lp.getTop(1).getTokenId()}, false),
                    lp.getTop(1).getText());
        }
    }

    @Test
    void abortByRequestIdEndsTheStreamWithAbortAndFreesTheCache() throws Exception {
        Iterator<GenerateChunk> stream = blocking.generate(GenerateRequest.newBuilder().setRequestId("long-1")
                .setPrompt("Count forever").setMaxTokens(4000).setTemperature(0).build());
        stream.next(); // prompt ids
        stream.next(); // a first token: the request is running
        assertTrue(InferenceGrpc.newBlockingStub(channel).abort(AbortRequest.newBuilder().setRequestId("long-1")
                .build()).getFound());
        List<GenerateChunk> rest = collect(stream);
        assertEquals("abort", rest.getLast().getFinishReason());
        assertTrue(rest.getLast().getUsage().getCompletionTokens() < 4000);
        ServedModelSupport.awaitCacheEmpty(host);
        assertFalse(InferenceGrpc.newBlockingStub(channel).abort(AbortRequest.newBuilder().setRequestId("long-1")
                .build()).getFound(), "nothing left to abort");
    }

    @Test
    void clientCancelAbortsTheRouterRequest() throws Exception {
        CountDownLatch firstToken = new CountDownLatch(2);
        CountDownLatch ended = new CountDownLatch(1);
        InferenceGrpc.newStub(channel).generate(GenerateRequest.newBuilder().setPrompt("Go on and on")
                .setMaxTokens(4000).setTemperature(0).build(), new ClientResponseObserver<GenerateRequest, GenerateChunk>() {
            ClientCallStreamObserver<GenerateRequest> call;

            @Override
            public void beforeStart(ClientCallStreamObserver<GenerateRequest> requestStream) {
                call = requestStream;
            }

            @Override
            public void onNext(GenerateChunk value) {
                firstToken.countDown();
                if (firstToken.getCount() == 0) {
                    call.cancel("the client went away", null);
                }
            }

            @Override
            public void onError(Throwable t) {
                ended.countDown();
            }

            @Override
            public void onCompleted() {
                ended.countDown();
            }
        });
        assertTrue(ended.await(30, TimeUnit.SECONDS));
        ServedModelSupport.awaitCacheEmpty(host);
    }

    private static StatusRuntimeException refused(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run);
    }

    private void generate(GenerateRequest request) {
        collect(blocking.generate(request));
    }

    @Test
    void invalidArgumentsNameTheField() {
        GenerateRequest.Builder ok = GenerateRequest.newBuilder().setPrompt("Hi").setMaxTokens(2);
        StatusRuntimeException e = refused(() -> generate(ok.clone().setTemperature(2.5f).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("temperature"), e.getStatus().getDescription());

        e = refused(() -> generate(ok.clone().setTopP(0).build()));
        assertTrue(e.getStatus().getDescription().startsWith("top_p"), e.getStatus().getDescription());
        e = refused(() -> generate(ok.clone().setMaxTokens(0).build()));
        assertTrue(e.getStatus().getDescription().startsWith("max_tokens"), e.getStatus().getDescription());
        e = refused(() -> generate(ok.clone().setLogprobs(21).build()));
        assertTrue(e.getStatus().getDescription().startsWith("logprobs"), e.getStatus().getDescription());
        e = refused(() -> generate(ok.clone().addAllStop(List.of("a", "b", "c", "d", "e")).build()));
        assertTrue(e.getStatus().getDescription().startsWith("stop"), e.getStatus().getDescription());
        e = refused(() -> generate(GenerateRequest.newBuilder().setMaxTokens(2).build()));
        assertTrue(e.getStatus().getDescription().contains("prompt"), e.getStatus().getDescription());
        e = refused(() -> generate(GenerateRequest.newBuilder().setPromptIds(TokenIds.newBuilder().addIds(5)
                .addIds(model.vocabSize())).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("prompt_ids[1] = " + model.vocabSize()),
                e.getStatus().getDescription());
        e = refused(() -> generate(ok.clone().setModel("gpt-4o").build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    }

    @Test
    void aPromptOverTheContextLimitIsRefusedNamingTheLimitAndTheLength() {
        int limit = model.contextLimit();
        TokenIds.Builder ids = TokenIds.newBuilder();
        for (int i = 0; i < limit + 5; i++) {
            ids.addIds(100 + i % 1000);
        }
        StatusRuntimeException e = refused(() -> generate(GenerateRequest.newBuilder().setPromptIds(ids).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        String message = e.getStatus().getDescription();
        assertTrue(message.contains(Integer.toString(limit)) && message.contains(Integer.toString(limit + 5)),
                message);

        e = refused(() -> generate(GenerateRequest.newBuilder().setPrompt("Hi").setMaxTokens(limit).build()));
        assertTrue(e.getStatus().getDescription().contains("max_tokens"), e.getStatus().getDescription());
    }

    @Test
    void tokenizeDetokenizeAndListModels() {
        TokenizeResponse plain = blocking.tokenize(TokenizeRequest.newBuilder().setText("Hello, world!").build());
        assertEquals(List.of(19923, 14, 2058, 3), plain.getIdsList(), "HF tokenizers' ids");
        TokenizeResponse withBos = blocking.tokenize(TokenizeRequest.newBuilder().setText("Hello, world!")
                .setAddSpecialTokens(true).build());
        assertEquals(List.of(0, 19923, 14, 2058, 3), withBos.getIdsList());

        TokenizeResponse chat = blocking.tokenize(TokenizeRequest.newBuilder().setMessages(ChatMessages.newBuilder()
                .addMessages(ChatMessage.newBuilder().setRole("user").setContent("Hi"))).build());
        assertEquals("<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>", chat.getText());
        assertEquals(0, chat.getIds(0));

        assertEquals("Hello, world!", blocking.detokenize(DetokenizeRequest.newBuilder()
                .addAllIds(withBos.getIdsList()).build()).getText());
        assertEquals("<｜begin▁of▁sentence｜>Hello, world!", blocking.detokenize(DetokenizeRequest.newBuilder()
                .addAllIds(withBos.getIdsList()).setIncludeSpecialTokens(true).build()).getText());
        StatusRuntimeException e = refused(() -> blocking.detokenize(DetokenizeRequest.newBuilder().addIds(-1)
                .build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());

        List<ModelInfo> models = blocking.listModels(ListModelsRequest.getDefaultInstance()).getModelsList();
        assertEquals(1, models.size());
        assertEquals(model.name(), models.getFirst().getId());
        assertEquals(32768, models.getFirst().getContextLength());
        assertEquals(model.vocabSize(), models.getFirst().getVocabSize());
        assertEquals("DeepseekV2ForCausalLM", models.getFirst().getArchitecture());
    }
}
