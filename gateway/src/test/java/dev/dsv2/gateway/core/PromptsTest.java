package dev.dsv2.gateway.core;

import org.junit.jupiter.api.Test;

import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The context-limit rules of {@link Prompts#maxTokens}. */
class PromptsTest {
    static int max(int prompt, OptionalInt requested, int defaultMax, long cache) {
        return Prompts.maxTokens(prompt, requested, defaultMax, 100, cache, "prompt", "max_tokens");
    }

    @Test
    void anExplicitMaxTokensIsKeptWhenItFits() {
        assertEquals(30, max(70, OptionalInt.of(30), 16, 0));
    }

    @Test
    void theDefaultIsClampedToTheRoomLeftAndToTheCache() {
        assertEquals(16, max(10, OptionalInt.empty(), 16, 0));
        assertEquals(5, max(95, OptionalInt.empty(), 16, 0));
        assertEquals(90, max(10, OptionalInt.empty(), Integer.MAX_VALUE, 0), "chat: the rest of the context");
        assertEquals(30, max(10, OptionalInt.empty(), Integer.MAX_VALUE, 40), "no more than the cache holds");
    }

    @Test
    void aPromptThatFillsTheContextIsRefusedNamingLimitAndLength() {
        ApiError e = assertThrows(ApiError.class, () -> max(100, OptionalInt.empty(), 16, 0));
        assertEquals("prompt", e.param());
        assertEquals(ApiError.CONTEXT_LENGTH_EXCEEDED, e.code());
        assertTrue(e.getMessage().contains("100 tokens long") && e.getMessage().contains("limit is 100"),
                e.getMessage());
    }

    @Test
    void anExplicitMaxTokensPastTheLimitIsRefusedOnTheMaxTokensField() {
        ApiError e = assertThrows(ApiError.class, () -> max(70, OptionalInt.of(31), 16, 0));
        assertEquals("max_tokens", e.param());
        assertEquals(ApiError.CONTEXT_LENGTH_EXCEEDED, e.code());
        assertTrue(e.getMessage().contains("101 tokens (70 in the prompt, 31 for the completion)"), e.getMessage());
        ApiError zero = assertThrows(ApiError.class, () -> max(10, OptionalInt.of(0), 16, 0));
        assertEquals("max_tokens", zero.param());
        assertNull(zero.code());
    }

    @Test
    void aPromptLargerThanTheWholeCacheIsRefused() {
        ApiError e = assertThrows(ApiError.class, () -> max(50, OptionalInt.empty(), 16, 40));
        assertEquals("prompt", e.param());
        assertTrue(e.getMessage().contains("KV cache (40 tokens)"), e.getMessage());
    }
}
