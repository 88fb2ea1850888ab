package dev.dsv2.gateway.fuzz;

import dev.dsv2.gateway.model.GatewaySettings;
import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.model.ServedModel;

import java.nio.file.Path;

/** The demo model the fuzz tests validate against (its tokenizer, vocabulary and context limit), loaded once. */
public final class FuzzModel {
    private static ServedModel served;

    private FuzzModel() {
    }

    public static synchronized ServedModel served() {
        if (served == null) {
            ModelHost host = new ModelHost(GatewaySettings.defaults(Path.of("target/dsv2-cache"))
                    .withKvCacheTokens(4096));
            host.load();
            if (host.state() != ModelHost.State.READY) {
                throw new IllegalStateException("the fuzz tests' model did not load: " + host.describe());
            }
            served = host.served();
        }
        return served;
    }
}
