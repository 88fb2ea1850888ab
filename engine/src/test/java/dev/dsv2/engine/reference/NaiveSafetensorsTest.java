package dev.dsv2.engine.reference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The oracle's checkpoint reading: safetensors bytes written by hand, index shards, and config.json defaults. */
class NaiveSafetensorsTest {
    @TempDir
    Path tmp;

    /** A safetensors file assembled byte by byte: header length, header JSON, then the raw little-endian data. */
    private static void handWrittenFile(Path file, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        Files.write(file, b.putLong(h.length).put(h).put(data).array());
    }

    @Test
    void decodesBf16F16AndF32FromRawBits() throws IOException {
        ByteBuffer data = ByteBuffer.allocate(2 * 2 + 3 * 2 + 4).order(ByteOrder.LITTLE_ENDIAN);
        data.putShort((short) 0x3FC0).putShort((short) 0xC020);                        // BF16 1.5, -2.5
        data.putShort((short) 0x3C00).putShort((short) 0xC500).putShort((short) 0x3555); // F16 1, -5, 0.333251953125
        data.putFloat(0.1f);
        handWrittenFile(tmp.resolve("a.safetensors"), """
                {"__metadata__":{"format":"pt"},
                 "b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},
                 "h":{"dtype":"F16","shape":[3,1],"data_offsets":[4,10]},
                 "f":{"dtype":"F32","shape":[],"data_offsets":[10,14]}}""", data.array());
        NaiveSafetensors st = new NaiveSafetensors(tmp);
        assertArrayEquals(new double[] {1.5, -2.5}, st.get("b", 2), 0.0);
        assertArrayEquals(new double[] {1, -5, 0.333251953125}, st.get("h", 3, 1), 0.0);
        assertArrayEquals(new double[] {(double) 0.1f}, st.get("f"), 0.0);
        assertEquals(Set.of(), st.unused());
    }

    @Test
    void rejectsUnsupportedDtypesAndInconsistentOffsetsNamingTheTensor() throws IOException {
        handWrittenFile(tmp.resolve("d.safetensors"),
                "{\"x\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", new byte[8]);
        var e = assertThrows(IllegalArgumentException.class, () -> new NaiveSafetensors(tmp));
        assertTrue(e.getMessage().endsWith("tensor 'x' has dtype F64, expected BF16, F16 or F32"), e.getMessage());

        Files.delete(tmp.resolve("d.safetensors"));
        handWrittenFile(tmp.resolve("o.safetensors"),
                "{\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", new byte[4]);
        e = assertThrows(IllegalArgumentException.class, () -> new NaiveSafetensors(tmp));
        assertTrue(e.getMessage().endsWith("tensor 'y' data_offsets [0, 4] span 4 bytes, expected 8"), e.getMessage());
    }

    @Test
    void readsShardsThroughTheIndexAndRoundsBf16ToNearestEven() {
        new CheckpointWriter().config("hidden_size", 2)
                .tensor("one", "BF16", new int[] {3}, 1 + Math.pow(2, -8), 1 + 3 * Math.pow(2, -8), -0.0)
                .tensor("two", "F16", new int[] {1, 2}, 0.5, 65504)
                .tensor("three", new int[] {2}, 0.25, -8)
                .write(tmp, 3);
        assertTrue(Files.exists(tmp.resolve("model.safetensors.index.json")));
        NaiveSafetensors st = new NaiveSafetensors(tmp);
        // bf16 steps by 2^-7 near 1; both values are ties: 1 + 2^-8 → 1 (even), 1 + 3·2^-8 → 1 + 2^-6 (even)
        assertArrayEquals(new double[] {1, 1 + Math.pow(2, -6), -0.0}, st.get("one", 3), 0.0);
        assertArrayEquals(new double[] {0.5, 65504}, st.get("two", 1, 2), 0.0);
        assertArrayEquals(new double[] {0.25, -8}, st.get("three", 2), 0.0);
        var e = assertThrows(IllegalArgumentException.class, () -> st.get("four", 1));
        assertTrue(e.getMessage().endsWith("no tensor 'four'"), e.getMessage());
    }

    @Test
    void configAppliesReferenceDefaultsForMissingKeysButKeepsExplicitNulls() {
        Path missing = new CheckpointWriter().config("hidden_size", 64).write(tmp.resolve("missing"), 1);
        NaiveConfig d = NaiveConfig.read(missing);
        assertEquals(1536, d.qLoraRank());   // DeepseekV2Config default
        assertNull(d.nRoutedExperts());      // dense
        assertEquals(1e-6, d.rmsNormEps());
        assertEquals(64, d.hiddenSize());
        assertNull(d.ropeScaling());

        Path nulls = new CheckpointWriter().config("q_lora_rank", null).config("n_routed_experts", null)
                .config("rope_scaling", java.util.Map.of("type", "yarn", "factor", 40))
                .write(tmp.resolve("nulls"), 1);
        NaiveConfig n = NaiveConfig.read(nulls);
        assertNull(n.qLoraRank());
        assertEquals(new NaiveConfig.Yarn(40, 4096, 32, 1, 1, 0), n.ropeScaling()); // YaRN constructor defaults
    }

    @Test
    void configRejectsWhatTheReferenceCannotRunNamingFieldAndValue() {
        Path moe = new CheckpointWriter().config("n_routed_experts", 8).config("num_experts_per_tok", 2)
                .write(tmp.resolve("gready"), 1); // topk_method missing → the config default 'gready', no gate branch
        var e = assertThrows(IllegalArgumentException.class, () -> NaiveConfig.read(moe));
        assertTrue(e.getMessage().contains("field 'topk_method' = absent, expected \"greedy\" or \"group_limited_greedy\""),
                e.getMessage());

        Path heads = new CheckpointWriter().config("num_attention_heads", 2.5).write(tmp.resolve("heads"), 1);
        e = assertThrows(IllegalArgumentException.class, () -> NaiveConfig.read(heads));
        assertTrue(e.getMessage().endsWith("field 'num_attention_heads' = 2.5, expected an integer"), e.getMessage());
    }
}
