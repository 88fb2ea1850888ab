package dev.dsv2.gateway.router;

import dev.dsv2.engine.sample.SamplingParams;

import java.util.List;

/**
 * One sequence to generate, as the router sees it: ids in, ids out. Stop strings are matched by the gateway on the
 * detokenized text, so {@code params} carries none (the constructor drops them); stop token ids, eos handling,
 * max tokens and logprobs are the router's business.
 *
 * @param requestId unique among the router's in-flight requests
 * @param promptIds the prompt, already tokenized (never empty)
 */
public record RouterRequest(String requestId, int[] promptIds, SamplingParams params) {
    public RouterRequest {
        if (requestId == null || requestId.isEmpty()) {
            throw new IllegalArgumentException("a router request needs a request id");
        }
        if (promptIds == null || promptIds.length == 0) {
            throw new IllegalArgumentException("request " + requestId + ": the prompt is empty");
        }
        promptIds = promptIds.clone();
        params = params.stop().isEmpty() ? params : params.toBuilder().stop(List.of()).build();
    }

    @Override
    public int[] promptIds() {
        return promptIds.clone();
    }
}
