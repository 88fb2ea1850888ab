package dev.dsv2.engine.safetensors;

import dev.dsv2.engine.safetensors.SafetensorsWriter.Entry;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.dsv2.engine.safetensors.RawSafetensors.bytes;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Our writer produces the bytes HF {@code safetensors} produces, and our reader accepts files that other writers
 * produce. The expected byte arrays are those of the reference implementation's own unit tests
 * ({@code safetensors/src/tensor.rs}: test_serialization, test_serialization_forced_alignement, test_empty).
 */
class SafetensorsFormatCompatibilityTest {
    @TempDir
    Path dir;

    private static final float[] ZERO_TO_FIVE = {0, 1, 2, 3, 4, 5};

    @Test
    void headerOfExactlyAMultipleOf8BytesGetsNoPadding() throws IOException {
        Path file = dir.resolve("a.safetensors");
        SafetensorsWriter.write(file, List.of(Entry.ofFloats("attn.0", DType.F32, new long[]{1, 2, 3}, ZERO_TO_FIVE)),
                Map.of());
        assertArrayEquals(bytes(
                64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
                116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
                58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
                101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
                0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64), Files.readAllBytes(file));
    }

    @Test
    void shorterHeaderIsPaddedWithSpacesToAlignTheData() throws IOException {
        Path file = dir.resolve("a.safetensors");
        SafetensorsWriter.write(file, List.of(Entry.ofFloats("attn0", DType.F32, new long[]{1, 1, 2, 3}, ZERO_TO_FIVE)),
                Map.of());
        assertArrayEquals(bytes(
                72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
                121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
                91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
                115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
                32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
                160, 64), Files.readAllBytes(file));
    }

    @Test
    void emptyFileWithMetadataMatchesTheReference() throws IOException {
        Path file = dir.resolve("a.safetensors");
        SafetensorsWriter.write(file, List.of(), Map.of("framework", "pt"));
        assertArrayEquals(bytes(
                40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
                95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
                116, 34, 125, 125, 32, 32, 32, 32, 32), Files.readAllBytes(file));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(Map.of("framework", "pt"), f.metadata());
            assertTrue(f.tensors().isEmpty());
        }
    }

    @Test
    void defaultMetadataIsTheFormatPtThatSavePretrainedWrites() throws IOException {
        Path file = dir.resolve("a.safetensors");
        SafetensorsWriter.write(file, List.of(Entry.ofFloats("a", DType.BF16, new long[]{2}, new float[]{1, -2})));
        byte[] all = Files.readAllBytes(file);
        String expectedJson = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"BF16\",\"shape\":[2],"
                + "\"data_offsets\":[0,4]}}";
        assertEquals(86, expectedJson.length());
        assertArrayEquals(bytes(88, 0, 0, 0, 0, 0, 0, 0), Arrays.copyOfRange(all, 0, 8));
        assertEquals(expectedJson + "  ", new String(all, 8, 88, StandardCharsets.UTF_8));
        assertArrayEquals(bytes(0x80, 0x3F, 0x00, 0xC0), Arrays.copyOfRange(all, 96, 100));
        assertEquals(100, all.length);
    }

    @Test
    void readerAcceptsAnyKeyOrderWhitespaceAndNoMetadata() throws IOException {
        // Entries listed in reverse data order, keys in another order, pretty-printed, no __metadata__, no padding.
        String header = """
                {
                  "second" : { "data_offsets" : [8, 14], "shape" : [3], "dtype" : "F16" },
                  "first"  : { "shape" : [2, 1], "dtype" : "F32", "data_offsets" : [0, 8] }
                }""";
        Path file = RawSafetensors.write(dir.resolve("other-writer.safetensors"), header,
                RawSafetensors.concat(RawSafetensors.f32(1.5f, -2.25f), RawSafetensors.u16(0x3C00, 0xC000, 0x3800)));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of("second", "first"), List.copyOf(f.tensors().keySet()));
            assertEquals(Map.of(), f.metadata());
            TensorView first = f.tensors().get("first");
            assertEquals(DType.F32, first.dtype());
            assertArrayEquals(new long[]{2, 1}, first.shape());
            assertArrayEquals(new float[]{1.5f, -2.25f}, first.toFloatArray());
            assertArrayEquals(new float[]{1f, -2f, 0.5f}, f.tensors().get("second").toFloatArray());
        }
    }

    @Test
    void readerAcceptsExtraMetadataKeys() throws IOException {
        String header = "{\"__metadata__\":{\"format\":\"pt\",\"producer\":\"someone else\"},"
                + "\"w\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
        Path file = RawSafetensors.write(dir.resolve("m.safetensors"), header, RawSafetensors.u16(0x3F80, 0x4000));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(Map.of("format", "pt", "producer", "someone else"), f.metadata());
            assertArrayEquals(new float[]{1f, 2f}, f.tensors().get("w").toFloatArray());
        }
    }
}
