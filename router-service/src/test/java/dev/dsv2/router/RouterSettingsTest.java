package dev.dsv2.router;

import dev.dsv2.testsupport.TestCheckpoints;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The router's configuration: defaults that depend on the model and the heap, and precise refusals. */
class RouterSettingsTest {
    private static final long LITE_BYTES_PER_TOKEN = 27L * 576 * 4; // 60.75 KiB

    @Test
    void theDefaultKvCacheIsAQuarterOfTheHeapCappedAtEightContexts() {
        assertEquals(8630, RouterEngine.defaultKvCacheTokens(32768, LITE_BYTES_PER_TOKEN, 576, 2L << 30),
                "V2-Lite, 2 GiB heap: 512 MiB / 60.75 KiB");
        assertEquals(8 * 32768, RouterEngine.defaultKvCacheTokens(32768, LITE_BYTES_PER_TOKEN, 576, 64L << 30),
                "a large heap stops at 8 x the context limit");
        assertEquals(64, RouterEngine.defaultKvCacheTokens(32768, LITE_BYTES_PER_TOKEN, 576, 1L << 20),
                "never less than one block");
    }

    @Test
    void placementAndWireDtypeParseTheirValuesAndNameTheKeyOtherwise() {
        assertEquals(RouterEngine.SharedExperts.SHARDS, RouterEngine.SharedExperts.parse(" Shards "));
        assertEquals(WireDtype.F32, WireDtype.parse("F32"));
        IllegalArgumentException placement = assertThrows(IllegalArgumentException.class,
                () -> RouterEngine.SharedExperts.parse("remote"));
        assertTrue(placement.getMessage().contains("dsv2.router.shared-experts") && placement.getMessage()
                .contains("'remote'") && placement.getMessage().contains("local or shards"), placement.getMessage());
        IllegalArgumentException wire = assertThrows(IllegalArgumentException.class, () -> WireDtype.parse("fp8"));
        assertTrue(wire.getMessage().contains("dsv2.router.wire-dtype") && wire.getMessage().contains("bf16 or f32"),
                wire.getMessage());
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
