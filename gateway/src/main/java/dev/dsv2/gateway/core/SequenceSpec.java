package dev.dsv2.gateway.core;

import dev.dsv2.engine.sample.SamplingParams;

/**
 * One sequence of an API request (an OpenAI request with {@code n > 1} or several prompts has several).
 *
 * @param index     the choice index reported to the client
 * @param promptIds the tokenized prompt
 * @param params    sampling and stopping, stop strings included (matched by the gateway on text)
 */
public record SequenceSpec(int index, int[] promptIds, SamplingParams params) {
    public SequenceSpec {
        promptIds = promptIds.clone();
    }

    @Override
    public int[] promptIds() {
        return promptIds.clone();
    }

    public int promptLength() {
        return promptIds.length;
    }
}
