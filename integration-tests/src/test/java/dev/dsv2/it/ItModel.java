package dev.dsv2.it;

import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The checkpoint the multi-process tests serve: the {@code tiny} preset (seed 21) with the gateway's demo tokenizer
 * (vocabulary sized to it), written once under {@code target/it-model} so every test class shares it.
 */
final class ItModel {
    private ItModel() {
    }

    static synchronized Path path() {
        Path model = Path.of("target", "it-model").toAbsolutePath();
        if (!Files.exists(model.resolve("tokenizer.json"))) {
            Path tokenizer = ServiceProcess.ROOT.resolve("gateway/src/main/resources/dev/dsv2/gateway/demo-tokenizer");
            RandomCheckpointWriter.TokenizerInfo tok = RandomCheckpointWriter.readTokenizerInfo(tokenizer);
            RandomCheckpointWriter.write(ModelPresets.withVocab(ModelPresets.preset("tiny"), tok.vocabSize(),
                    tok.bosId(), tok.eosId()), model, 21, s -> { });
            RandomCheckpointWriter.copyTokenizer(tokenizer, model);
        }
        return model;
    }
}
