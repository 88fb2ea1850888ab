package dev.dsv2.gateway;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.OpenAIServiceException;
import com.openai.errors.RateLimitException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.chat.completions.ChatCompletionTokenLogprob;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionChoice;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import dev.dsv2.gateway.core.InFlightLimit;
import dev.dsv2.gateway.core.Interactive;
import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.tokenizer.ChatMessage;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.URL;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.function.Executable;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The OpenAI-compatible HTTP API driven by the official OpenAI Java SDK, unchanged (only the base URL). */
@QuarkusTest
class OpenAiSdkTest {
    @Inject
    ModelHost host;

    @Inject
    @Interactive
    InFlightLimit interactive;

    @TestHTTPResource("/v1")
    URL baseUrl;

    OpenAIClient client;
    ServedModel model;

    @BeforeEach
    void connect() {
        model = ServedModelSupport.await(host);
        client = OpenAIOkHttpClient.builder().baseUrl(baseUrl.toString()).apiKey("unused").maxRetries(0).build();
    }

    @AfterEach
    void close() {
        client.close();
    }

    private ChatCompletionCreateParams.Builder chat(String user) {
        return ChatCompletionCreateParams.builder().model(model.name()).addUserMessage(user).temperature(0.0);
    }

    private CompletionCreateParams.Builder completion(String prompt) {
        return CompletionCreateParams.builder().model(model.name()).prompt(prompt).temperature(0.0);
    }

    @Test
    void listsTheServedModel() {
        List<Model> models = client.models().list().data();
        assertEquals(1, models.size());
        assertEquals(model.name(), models.getFirst().id());
        assertEquals("dsv2", models.getFirst().ownedBy());
    }

    @Test
    void chatCompletionHasOpenAisShapeAndUsage() {
        ChatCompletion c = client.chat().completions().create(chat("Hello there").maxCompletionTokens(6).build());
        assertTrue(c.id().startsWith("chatcmpl-"), c.id());
        assertEquals(model.name(), c.model());
        assertTrue(c.created() > 1_700_000_000L);
        assertEquals(1, c.choices().size());
        ChatCompletion.Choice choice = c.choices().getFirst();
        assertEquals(0, choice.index());
        assertEquals("length", choice.finishReason().asString());
        assertTrue(choice.message().content().isPresent());
        int promptTokens = model.tokenizer().encodeChat(List.of(ChatMessage.user("Hello there")), true).length;
        assertEquals(promptTokens, c.usage().orElseThrow().promptTokens());
        assertEquals(6, c.usage().orElseThrow().completionTokens());
        assertEquals(promptTokens + 6, c.usage().orElseThrow().totalTokens());
    }

    @Test
    void streamedChatAddsUpToTheSameTextAndEndsWithUsage() {
        String whole = client.chat().completions().create(chat("Tell me a story").maxCompletionTokens(12).build())
                .choices().getFirst().message().content().orElseThrow();
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
                chat("Tell me a story").maxCompletionTokens(12)
                        .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            stream.stream().forEach(chunks::add);
        }
        StringBuilder text = new StringBuilder();
        String finish = null;
        for (ChatCompletionChunk chunk : chunks) {
            assertEquals("chat.completion.chunk", chunk._object_().asString().orElseThrow());
            for (ChatCompletionChunk.Choice choice : chunk.choices()) {
                choice.delta().content().ifPresent(text::append);
                if (choice.finishReason().isPresent()) {
                    finish = choice.finishReason().get().asString();
                }
            }
        }
        assertEquals(whole, text.toString());
        assertEquals("length", finish);
        assertEquals("assistant", chunks.getFirst().choices().getFirst().delta().role().orElseThrow().asString());
        ChatCompletionChunk last = chunks.getLast();
        assertTrue(last.choices().isEmpty(), "the usage chunk has no choices");
        assertEquals(12, last.usage().orElseThrow().completionTokens());
    }

    @Test
    void completionAndStreamedCompletionAgree() {
        Completion c = client.completions().create(completion("The capital of France is").maxTokens(8).build());
        assertTrue(c.id().startsWith("cmpl-"));
        CompletionChoice choice = c.choices().getFirst();
        assertEquals("length", choice.finishReason().asString());
        assertEquals(model.tokenizer().encodePrompt("The capital of France is").length,
                c.usage().orElseThrow().promptTokens());
        StringBuilder streamed = new StringBuilder();
        try (StreamResponse<Completion> stream = client.completions().createStreaming(
                completion("The capital of France is").maxTokens(8).build())) {
            stream.stream().forEach(chunk -> chunk.choices().forEach(ch -> streamed.append(ch.text())));
        }
        assertEquals(choice.text(), streamed.toString());
    }

    @Test
    void completionsDefaultToSixteenTokens() {
        Completion c = client.completions().create(CompletionCreateParams.builder().model(model.name())
                .prompt("Once").temperature(0.0).build());
        assertEquals(16, c.usage().orElseThrow().completionTokens());
    }

    @Test
    void stopStringsCutTheOutputBeforeTheMatch() {
        String whole = client.completions().create(completion("Once upon a time").maxTokens(24).build())
                .choices().getFirst().text();
        int from = Math.max(1, whole.length() / 2);
        String stop = whole.substring(from, Math.min(whole.length(), from + 2));
        int at = whole.indexOf(stop);
        Completion stopped = client.completions().create(completion("Once upon a time").maxTokens(24)
                .stop(CompletionCreateParams.Stop.ofStrings(List.of("\u0000never", stop))).build());
        assertEquals(whole.substring(0, at), stopped.choices().getFirst().text());
        assertEquals("stop", stopped.choices().getFirst().finishReason().asString());

        String chatWhole = client.chat().completions().create(chat("Go").maxCompletionTokens(24).build())
                .choices().getFirst().message().content().orElseThrow();
        String chatStop = chatWhole.substring(chatWhole.length() / 2, chatWhole.length() / 2 + 2);
        StringBuilder streamed = new StringBuilder();
        String[] finish = new String[1];
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
                chat("Go").maxCompletionTokens(24).stop(chatStop).build())) {
            stream.stream().forEach(chunk -> chunk.choices().forEach(ch -> {
                ch.delta().content().ifPresent(streamed::append);
                ch.finishReason().ifPresent(f -> finish[0] = f.asString());
            }));
        }
        assertEquals(chatWhole.substring(0, chatWhole.indexOf(chatStop)), streamed.toString());
        assertEquals("stop", finish[0]);
    }

    @Test
    void chatLogprobsListTheChosenTokenAndTopAlternatives() {
        ChatCompletion c = client.chat().completions().create(chat("Hi").maxCompletionTokens(5).logprobs(true)
                .topLogprobs(3).build());
        List<ChatCompletionTokenLogprob> content = c.choices().getFirst().logprobs().orElseThrow().content()
                .orElseThrow();
        assertEquals(5, content.size());
        StringBuilder joined = new StringBuilder();
        for (ChatCompletionTokenLogprob t : content) {
            assertEquals(3, t.topLogprobs().size());
            assertEquals(t.token(), t.topLogprobs().getFirst().token(), "greedy takes the best token");
            assertEquals(t.logprob(), t.topLogprobs().getFirst().logprob(), 1e-6);
            assertTrue(t.topLogprobs().get(0).logprob() >= t.topLogprobs().get(1).logprob());
            joined.append(t.token());
        }
        assertEquals(c.choices().getFirst().message().content().orElseThrow(), joined.toString());

        ChatCompletion noTop = client.chat().completions().create(chat("Hi").maxCompletionTokens(2).logprobs(true)
                .build());
        assertTrue(noTop.choices().getFirst().logprobs().orElseThrow().content().orElseThrow().getFirst()
                .topLogprobs().isEmpty(), "logprobs without top_logprobs: the chosen token only");
    }

    @Test
    void completionLogprobsAreParallelArrays() {
        CompletionChoice choice = client.completions().create(completion("Hello").maxTokens(4).logprobs(2L).build())
                .choices().getFirst();
        CompletionChoice.Logprobs lp = choice.logprobs().orElseThrow();
        assertEquals(4, lp.tokens().orElseThrow().size());
        assertEquals(4, lp.tokenLogprobs().orElseThrow().size());
        assertEquals(4, lp.topLogprobs().orElseThrow().size());
        assertEquals(0L, lp.textOffset().orElseThrow().getFirst());
        assertTrue(lp.tokenLogprobs().orElseThrow().stream().allMatch(x -> x <= 0));
    }

    @Test
    void nChoicesWithASeedAreSeedPlusIndex() {
        ChatCompletionCreateParams three = ChatCompletionCreateParams.builder().model(model.name())
                .addUserMessage("Pick a word").temperature(1.0).seed(1234).n(3).maxCompletionTokens(6).build();
        ChatCompletion c = client.chat().completions().create(three);
        assertEquals(3, c.choices().size());
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            assertEquals(i, c.choices().get(i).index());
            texts.add(c.choices().get(i).message().content().orElseThrow());
        }
        assertEquals(18, c.usage().orElseThrow().completionTokens());
        assertEquals(model.tokenizer().encodeChat(List.of(ChatMessage.user("Pick a word")), true).length,
                c.usage().orElseThrow().promptTokens(), "the prompt counts once");
        for (int i = 0; i < 3; i++) {
            String single = client.chat().completions().create(ChatCompletionCreateParams.builder()
                    .model(model.name()).addUserMessage("Pick a word").temperature(1.0).seed(1234 + i)
                    .maxCompletionTokens(6).build()).choices().getFirst().message().content().orElseThrow();
            assertEquals(single, texts.get(i), "choice " + i + " samples with seed + " + i);
        }
        assertFalse(texts.get(0).equals(texts.get(1)) && texts.get(1).equals(texts.get(2)),
                "different seeds, different samples");
    }

    private static <E extends OpenAIServiceException> E refused(Class<E> type, int status, String param,
                                                                Executable call) {
        E e = assertThrows(type, call::execute);
        assertEquals(status, e.statusCode());
        assertEquals(param, e.param().orElse(null), e.getMessage());
        return e;
    }

    @Test
    void invalidParametersAre400WithTheParamNamed() {
        refused(BadRequestException.class, 400, "temperature",
                () -> client.chat().completions().create(chat("x").temperature(2.5).build()));
        refused(BadRequestException.class, 400, "top_p",
                () -> client.chat().completions().create(chat("x").topP(0.0).build()));
        refused(BadRequestException.class, 400, "n",
                () -> client.chat().completions().create(chat("x").n(0).build()));
        refused(BadRequestException.class, 400, "max_completion_tokens",
                () -> client.chat().completions().create(chat("x").maxCompletionTokens(0).build()));
        refused(BadRequestException.class, 400, "top_logprobs",
                () -> client.chat().completions().create(chat("x").topLogprobs(2).build()));
        refused(BadRequestException.class, 400, "stop",
                () -> client.chat().completions().create(chat("x").stop(ChatCompletionCreateParams.Stop.ofStrings(
                        List.of("a", "b", "c", "d", "e"))).build()));
        refused(BadRequestException.class, 400, "echo",
                () -> client.completions().create(completion("x").echo(true).build()));
        refused(BadRequestException.class, 400, "logprobs",
                () -> client.completions().create(completion("x").logprobs(21L).build()));
    }

    @Test
    void anUnknownModelIs404() {
        NotFoundException e = refused(NotFoundException.class, 404, "model",
                () -> client.chat().completions().create(ChatCompletionCreateParams.builder().model("gpt-4o")
                        .addUserMessage("x").build()));
        assertEquals("model_not_found", e.code().orElseThrow());
    }

    @Test
    void aPromptOverTheContextLimitIs400ContextLengthExceeded() {
        String huge = "hello ".repeat(model.contextLimit() + 10);
        BadRequestException e = refused(BadRequestException.class, 400, "messages",
                () -> client.chat().completions().create(chat(huge).build()));
        assertEquals("context_length_exceeded", e.code().orElseThrow());
        assertTrue(e.getMessage().contains(Integer.toString(model.contextLimit())), e.getMessage());

        e = refused(BadRequestException.class, 400, "max_completion_tokens",
                () -> client.chat().completions().create(chat("x").maxCompletionTokens(model.contextLimit()).build()));
        assertEquals("context_length_exceeded", e.code().orElseThrow());
    }

    @Test
    void aSaturatedServerAnswers429() {
        List<InFlightLimit.Permit> held = new ArrayList<>();
        try {
            interactive.tryAcquire().ifPresent(held::add);
            while (interactive.tryAcquire().map(held::add).orElse(false)) {
                // take every interactive permit
            }
            assertEquals(64, held.size(), "the %test cap");
            RateLimitException e = assertThrows(RateLimitException.class,
                    () -> client.chat().completions().create(chat("x").maxCompletionTokens(1).build()));
            assertEquals(429, e.statusCode());
        } finally {
            held.forEach(InFlightLimit.Permit::close);
        }
        assertEquals(1, client.chat().completions().create(chat("x").maxCompletionTokens(1).build())
                .usage().orElseThrow().completionTokens(), "served again once permits are free");
    }
}
