package dev.dsv2.gateway.batch;

import dev.dsv2.gateway.core.GenerationService;
import dev.dsv2.gateway.core.InFlightLimit;
import dev.dsv2.gateway.core.ServingObserver;
import dev.dsv2.gateway.model.GatewaySettings;
import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.gateway.openai.OpenAiApi;

import java.nio.file.Path;

/**
 * The model the batch tests serve, loaded once per test JVM: the gateway's demo model (the {@code tiny} preset with
 * random weights and the real DeepSeek-V3 tokenizer) under target/, embedded router, a small KV cache.
 */
final class BatchTestModel {
    static final GatewaySettings SETTINGS = GatewaySettings.defaults(Path.of("target/dsv2-cache"))
            .withKvCacheTokens(8192);
    private static ModelHost host;
    private static OpenAiApi api;

    private BatchTestModel() {
    }

    /** The loaded host (loads it on first use). */
    static synchronized ModelHost host() {
        if (host == null) {
            ModelHost h = new ModelHost(SETTINGS);
            h.load();
            if (h.state() != ModelHost.State.READY) {
                throw new IllegalStateException("the batch tests' model did not load: " + h.describe());
            }
            host = h;
            api = new OpenAiApi(new GenerationService(h, ServingObserver.NONE), InFlightLimit.unlimited("test"));
        }
        return host;
    }

    /** The OpenAI API over the loaded model, as the gateway wires it (interactive calls uncapped). */
    static synchronized OpenAiApi api() {
        host();
        return api;
    }

    static ServedModel served() {
        return host().served();
    }
}
