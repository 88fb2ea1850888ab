package dev.dsv2.engine.generate;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.TopLogprobs;

import java.util.List;

/**
 * The outcome of one request.
 *
 * @param logprobs per generated token, the top-K of that step's distribution (empty when not requested)
 * @param tokenLogprobs per generated token, the logprob of the token that was chosen (empty when not requested)
 */
public record GenerationResult(int[] promptIds, int[] outputIds, String text, FinishReason finishReason,
                               List<TopLogprobs> logprobs, float[] tokenLogprobs) {
}
