package dev.dsv2.gateway.guard;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** API keys from the list and the file, Bearer parsing, owner ids that never carry the key. */
class ApiKeysTest {

    @Test
    void noKeysMeansOpenWithTheFallbackOwner() {
        ApiKeys keys = ApiKeys.of(List.of(), Optional.empty());
        assertFalse(keys.required());
        assertEquals(Optional.of("addr-1.2.3.4"), keys.authenticate(null, "addr-1.2.3.4"));
    }

    @Test
    void listedAndFileKeysAuthenticateBearerValuesOnly(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("keys");
        Files.writeString(file, "# team keys\n\nfile-key-1\n  file-key-2  \n");
        ApiKeys keys = ApiKeys.of(List.of("listed-key", " "), Optional.of(file));

        assertTrue(keys.required());
        assertEquals(3, keys.count());
        for (String k : List.of("listed-key", "file-key-1", "file-key-2")) {
            Optional<String> owner = keys.authenticate("Bearer " + k, "addr-x");
            assertTrue(owner.isPresent(), k);
            assertTrue(owner.get().matches("key-[0-9a-f]{12}"), owner.get());
            assertFalse(owner.get().contains(k), "the owner id never carries the key");
        }
        assertTrue(keys.authenticate("bearer listed-key", "a").isPresent(), "the scheme is case-insensitive");
        assertNotEquals(keys.authenticate("Bearer file-key-1", "a"), keys.authenticate("Bearer file-key-2", "a"));
        assertTrue(keys.authenticate(null, "a").isEmpty());
        assertTrue(keys.authenticate("Bearer ", "a").isEmpty());
        assertTrue(keys.authenticate("Bearer listed-ke", "a").isEmpty());
        assertTrue(keys.authenticate("Basic listed-key", "a").isEmpty());
        assertTrue(keys.authenticate("listed-key", "a").isEmpty());
    }

    @Test
    void unusableKeysAndUnreadableFilesAreConfigurationErrors(@TempDir Path dir) {
        IllegalArgumentException space = assertThrows(IllegalArgumentException.class,
                () -> ApiKeys.of(List.of("two words"), Optional.empty()));
        assertTrue(space.getMessage().contains("printable ASCII"), space.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> ApiKeys.of(List.of(), Optional.of(dir.resolve("absent"))));
        assertTrue(missing.getMessage().contains("dsv2.api-keys-file"), missing.getMessage());
    }
}
