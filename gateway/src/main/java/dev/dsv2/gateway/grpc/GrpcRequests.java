package dev.dsv2.gateway.grpc;

import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.core.OutputOptions;
import dev.dsv2.gateway.core.Prompts;
import dev.dsv2.gateway.core.TokenLogprob;
import dev.dsv2.proto.v1.ChatMessages;
import dev.dsv2.proto.v1.GenerateRequest;
import dev.dsv2.proto.v1.TokenLogprobs;
import dev.dsv2.tokenizer.ChatMessage;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads a {@link GenerateRequest}'s sampling fields with the OpenAI API's defaults and ranges (temperature 1 in
 * [0, 2], top_p 1 in (0, 1], top_k >= 0 with 0 = off, logprobs 0..20, at most 4 non-empty stop strings, stop token
 * ids in the vocabulary); each violation is an INVALID_ARGUMENT naming the field.
 */
final class GrpcRequests {
    static final int MAX_STOP = SamplingParams.DEFAULT_MAX_STOP_SEQUENCES;

    private GrpcRequests() {
    }

    /** Everything but max_tokens (which depends on the prompt). */
    static SamplingParams.Builder sampling(GenerateRequest r, int vocab) {
        SamplingParams.Builder b = SamplingParams.builder();
        if (r.hasTemperature()) {
            float t = r.getTemperature();
            if (!(t >= 0 && t <= SamplingParams.MAX_TEMPERATURE)) {
                throw ApiError.invalid("temperature", "temperature must be in [0, 2], got " + t);
            }
            b.temperature(t);
        }
        if (r.hasTopP()) {
            float p = r.getTopP();
            if (!(p > 0 && p <= 1)) {
                throw ApiError.invalid("top_p", "top_p must be in (0, 1], got " + p);
            }
            b.topP(p);
        }
        if (r.hasTopK()) {
            if (r.getTopK() < 0) {
                throw ApiError.invalid("top_k", "top_k must be >= 0 (0 disables it), got " + r.getTopK());
            }
            b.topK(r.getTopK());
        }
        if (r.hasSeed()) {
            b.seed(r.getSeed());
        }
        if (r.hasLogprobs() && (r.getLogprobs() < 0 || r.getLogprobs() > OutputOptions.MAX_TOP_LOGPROBS)) {
            throw ApiError.invalid("logprobs", "logprobs must be in [0, " + OutputOptions.MAX_TOP_LOGPROBS
                    + "], got " + r.getLogprobs());
        }
        if (r.getStopCount() > MAX_STOP) {
            throw ApiError.invalid("stop", "stop: at most " + MAX_STOP + " stop strings, got " + r.getStopCount());
        }
        for (int i = 0; i < r.getStopCount(); i++) {
            if (r.getStop(i).isEmpty()) {
                throw ApiError.invalid("stop", "stop[" + i + "] must not be empty");
            }
        }
        b.stop(r.getStopList());
        Set<Integer> stopIds = new HashSet<>();
        for (int i = 0; i < r.getStopTokenIdsCount(); i++) {
            int id = r.getStopTokenIds(i);
            if (id < 0 || id >= vocab) {
                throw ApiError.invalid("stop_token_ids", "stop_token_ids[" + i + "] = " + id
                        + " is not a token id (valid: 0.." + (vocab - 1) + ")");
            }
            stopIds.add(id);
        }
        return b.stopTokenIds(stopIds).ignoreEos(r.getIgnoreEos());
    }

    static List<ChatMessage> messages(ChatMessages messages) {
        List<ChatMessage> out = new ArrayList<>();
        for (int i = 0; i < messages.getMessagesCount(); i++) {
            var m = messages.getMessages(i);
            out.add(new ChatMessage(Prompts.role(m.getRole(), "messages[" + i + "]"), m.getContent()));
        }
        return out;
    }

    static TokenLogprobs logprobs(TokenLogprob lp) {
        TokenLogprobs.Builder b = TokenLogprobs.newBuilder().setChosen(
                dev.dsv2.proto.v1.TokenLogprob.newBuilder().setTokenId(lp.tokenId()).setLogprob(lp.logprob())
                        .setText(lp.token()));
        for (TokenLogprob.Alternative a : lp.top()) {
            b.addTop(dev.dsv2.proto.v1.TokenLogprob.newBuilder().setTokenId(a.tokenId()).setLogprob(a.logprob())
                    .setText(a.token()));
        }
        return b.build();
    }
}
