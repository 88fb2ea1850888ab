package dev.dsv2.router;

import dev.dsv2.testsupport.TestCheckpoints;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The router's own configuration keys and precise refusals (the shared keys, {@code dsv2.expert-wire} among them:
 * ServingSettingsTest in the engine).
 */
class RouterSettingsTest {
    @Test
    void theSharedExpertPlacementParsesItsValuesAndNamesTheKeyOtherwise() {
        assertEquals(RouterEngine.SharedExperts.SHARDS, RouterEngine.SharedExperts.parse(" Shards "));
        IllegalArgumentException placement = assertThrows(IllegalArgumentException.class,
                () -> RouterEngine.SharedExperts.parse("remote"));
        assertTrue(placement.getMessage().contains("dsv2.router.shared-experts") && placement.getMessage()
                .contains("'remote'") && placement.getMessage().contains("local or shards"), placement.getMessage());
    }

    @Test
    void aContextLimitBeyondTheModelOrANonPositiveSizeIsRefusedNamingTheKey() {
        Path model = TestCheckpoints.tiny(1);
        IllegalArgumentException limit = assertThrows(IllegalArgumentException.class,
                () -> RouterEngine.create(RouterEngine.Settings.local(model, 1).withCache(1024, 200_000), null));
        assertTrue(limit.getMessage().contains("dsv2.context-limit (DSV2_CONTEXT_LIMIT) 200000 must be in [2, 163840]"),
                limit.getMessage());
        IllegalArgumentException tokens = assertThrows(IllegalArgumentException.class,
                () -> RouterEngine.Settings.local(model, 1).withCache(-5, 100));
        assertTrue(tokens.getMessage().contains("dsv2.kv-cache.tokens (DSV2_KV_CACHE_TOKENS) must be >= 1, got -5"),
                tokens.getMessage());
    }
}
