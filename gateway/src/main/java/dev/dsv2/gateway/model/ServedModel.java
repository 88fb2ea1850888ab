package dev.dsv2.gateway.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.gateway.router.RouterClient;
import dev.dsv2.tokenizer.HfTokenizer;

import java.nio.file.Path;

/**
 * The model this gateway serves, once loaded: its public name, checkpoint directory, tokenizer (the edge tokenizes
 * and detokenizes), config.json, context limit and the router that generates with it.
 *
 * @param created epoch seconds when loading finished (OpenAI's {@code created} of the model)
 */
public record ServedModel(String name, Path dir, HfTokenizer tokenizer, ModelConfig config, int contextLimit,
                          long created, RouterClient router) {

    /** Ids the model accepts: {@code [0, vocab_size)} of config.json. */
    public int vocabSize() {
        return config.vocabSize();
    }

    /** The HF architecture name, for ListModels. */
    public String architecture() {
        return "DeepseekV2ForCausalLM";
    }
}
