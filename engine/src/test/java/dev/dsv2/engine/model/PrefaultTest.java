package dev.dsv2.engine.model;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.safetensors.Checkpoint;
import dev.dsv2.testsupport.TestCheckpoints;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PrefaultTest {
    private static final long GIB = 1L << 30;

    @Test
    void autoReadsAheadOnlyWhatFitsInEightyPercentOfAvailableMemory() {
        Prefault fits = Prefault.decide("auto", 16 * GIB, OptionalLong.of(21 * GIB));
        assertTrue(fits.enabled(), fits.reason());
        assertEquals("16.0 GiB of weights fit in 21.0 GiB available", fits.reason());
        Prefault tooBig = Prefault.decide(" AUTO ", 31 * GIB, OptionalLong.of(21 * GIB));
        assertFalse(tooBig.enabled());
        assertEquals("31.0 GiB of weights exceed 80% of the 21.0 GiB available: they stay on disk until used",
                tooBig.reason());
        assertFalse(Prefault.decide("auto", 1, OptionalLong.empty()).enabled(), "unknown memory: no read-ahead");
    }

    @Test
    void trueAndFalseOverrideTheMemoryCheckAndOtherValuesAreRefused() {
        assertTrue(Prefault.decide("true", 31 * GIB, OptionalLong.of(GIB)).enabled());
        assertFalse(Prefault.decide("False", 1, OptionalLong.of(64 * GIB)).enabled());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Prefault.decide("yes", 1, OptionalLong.of(GIB)));
        assertEquals("dsv2.prefault (DSV2_PREFAULT): unknown value 'yes' (expected auto, true or false)",
                e.getMessage());
    }

    @Test
    void memAvailableIsReadFromMeminfoInBytes(@TempDir Path tmp) throws IOException {
        Path meminfo = tmp.resolve("meminfo");
        Files.writeString(meminfo, "MemTotal:       24605480 kB\nMemFree:         1034112 kB\n"
                + "MemAvailable:   22875708 kB\nBuffers:           12 kB\n");
        assertEquals(OptionalLong.of(22875708L * 1024), Prefault.memAvailable(meminfo));
        Files.writeString(meminfo, "MemTotal: 1 kB\n");
        assertEquals(OptionalLong.empty(), Prefault.memAvailable(meminfo));
        assertEquals(OptionalLong.empty(), Prefault.memAvailable(tmp.resolve("absent")));
    }

    @Test
    void aContainersMemoryLimitBoundsTheAvailableMemory(@TempDir Path tmp) throws IOException {
        Files.writeString(tmp.resolve("memory.max"), "21474836480\n");
        Files.writeString(tmp.resolve("memory.current"), "1073741824\n");
        assertEquals(OptionalLong.of(19 * GIB), Prefault.cgroupRoom(tmp));
        assertEquals(OptionalLong.of(19 * GIB),
                Prefault.available(OptionalLong.of(120 * GIB), Prefault.cgroupRoom(tmp)));
        assertEquals(OptionalLong.of(8 * GIB), Prefault.available(OptionalLong.of(8 * GIB), Prefault.cgroupRoom(tmp)));
        Files.writeString(tmp.resolve("memory.max"), "max\n");
        assertEquals(OptionalLong.empty(), Prefault.cgroupRoom(tmp));
        assertEquals(OptionalLong.of(120 * GIB),
                Prefault.available(OptionalLong.of(120 * GIB), Prefault.cgroupRoom(tmp)));
        assertEquals(OptionalLong.empty(), Prefault.cgroupRoom(tmp.resolve("absent")));
    }

    /**
     * What a process prefaults is the tensors it looked up: a shard's lookups cover its own experts of every MoE layer
     * and nothing else, so it reads its share of the routed experts, not the file.
     */
    @Test
    void aShardLooksUpOnlyItsOwnExpertsSoThatIsWhatItPrefaults() {
        Path dir = TestCheckpoints.tiny(5);
        ModelConfig c = ModelConfig.load(dir);
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            ModelLoader.Names names = new ModelLoader.Names(ckpt);
            ExpertPlacement shard1 = new ExpertPlacement(1, 2, c.nRoutedExperts());
            ModelLoader.localExperts(c, names, shard1);
            long expected = 0;
            for (int layer = 0; layer < c.numHiddenLayers(); layer++) {
                if (!c.isMoeLayer(layer)) {
                    continue;
                }
                for (int e : shard1.owned(layer)) {
                    for (String m : List.of("gate_proj", "up_proj", "down_proj")) {
                        expected += ckpt.tensor("model.layers." + layer + ".mlp.experts." + e + "." + m + ".weight")
                                .byteSize();
                    }
                }
            }
            assertTrue(expected > 0 && expected < ckpt.totalBytes() / 2, expected + " of " + ckpt.totalBytes());
            assertEquals(expected, ckpt.bytesOf(names.used));
            assertTrue(names.used.stream().allMatch(n -> n.contains(".mlp.experts.")), names.used::toString);
        }
    }

    @Test
    void prefaultReadsTheNamedTensorsAndReportsTheirTotal() {
        Path dir = TestCheckpoints.tiny(5);
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            List<String> lines = new ArrayList<>();
            ckpt.prefault(ckpt.names(), lines::add);
            long total = ckpt.totalBytes();
            assertEquals(total, ckpt.bytesOf(ckpt.names()));
            assertEquals(String.format(java.util.Locale.ROOT, "prefaulting the weights: %.1f / %.1f GiB",
                    total / (double) GIB, total / (double) GIB), lines.getLast());
            List<String> one = List.of("model.layers.1.mlp.experts.0.up_proj.weight");
            assertEquals(ckpt.tensor(one.getFirst()).byteSize(), ckpt.bytesOf(one));
        }
    }
}
