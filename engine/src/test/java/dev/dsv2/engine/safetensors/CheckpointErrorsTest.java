package dev.dsv2.engine.safetensors;

import dev.dsv2.engine.safetensors.SafetensorsWriter.Entry;
import dev.dsv2.engine.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every kind of bad checkpoint is rejected with a message that names the file, the tensor and the mismatch. */
class CheckpointErrorsTest {
    @TempDir
    Path dir;

    private static final String GOOD_HEADER = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}";

    private String openFails(Path file) {
        return assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file)).getMessage();
    }

    private String checkpointFails(Path checkpointDir) {
        return assertThrows(CheckpointException.class, () -> Checkpoint.open(checkpointDir)).getMessage();
    }

    private static void assertContains(String message, String... parts) {
        for (String p : parts) {
            assertTrue(message.contains(p), "expected \"" + p + "\" in: " + message);
        }
    }

    private Path writeCheckpointShard(Path ckpt, String file, String... tensors) {
        SafetensorsWriter.write(ckpt.resolve(file), Arrays.stream(tensors)
                .map(t -> Entry.ofFloats(t, DType.F32, new long[]{2}, new float[]{1, 2})).toList());
        return ckpt.resolve(file);
    }

    @Test
    void garbageHeaderIsACorruptHeader() throws IOException {
        Path file = RawSafetensors.write(dir.resolve("g.safetensors"), "this is not json", new byte[0]);
        assertContains(openFails(file), file.toString(), "corrupt header", "16-byte header is not valid JSON");
    }

    @Test
    void headerLongerThanTheFileIsACorruptHeader() throws IOException {
        byte[] header = GOOD_HEADER.getBytes(StandardCharsets.UTF_8);
        Path file = RawSafetensors.write(dir.resolve("l.safetensors"), 1_000_000, header, new byte[24]);
        String expectedRest = (header.length + 24) + " bytes after the 8-byte length";
        assertContains(openFails(file), file.toString(), "corrupt header", "declares a header of 1000000 bytes",
                expectedRest);
    }

    @Test
    void headerLengthThatIsNegativeAsASignedLongIsACorruptHeader() throws IOException {
        Path file = RawSafetensors.write(dir.resolve("n.safetensors"), -1L, new byte[0], new byte[0]);
        assertContains(openFails(file), "corrupt header", "declares a header of 18446744073709551615 bytes");
    }

    @Test
    void fileShorterThanTheLengthPrefixIsACorruptHeader() throws IOException {
        Path file = Files.write(dir.resolve("s.safetensors"), new byte[]{1, 2, 3});
        assertContains(openFails(file), file.toString(), "corrupt header", "the file has 3 bytes");
    }

    @Test
    void headerThatIsJsonButNotAnObjectIsACorruptHeader() throws IOException {
        Path file = RawSafetensors.write(dir.resolve("a.safetensors"), "[1, 2, 3]", new byte[0]);
        assertContains(openFails(file), file.toString(), "corrupt header", "header is a JSON array",
                "expected a JSON object");
    }

    @Test
    void headerWithTrailingGarbageAfterTheObjectIsACorruptHeader() throws IOException {
        Path file = RawSafetensors.write(dir.resolve("t.safetensors"), GOOD_HEADER + " {}", new byte[24]);
        assertContains(openFails(file), "corrupt header", "not valid JSON");
    }

    @Test
    void headerNamingATensorTwiceIsACorruptHeader() throws IOException {
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
        Path file = RawSafetensors.write(dir.resolve("d.safetensors"), header, new byte[8]);
        assertContains(openFails(file), "corrupt header", "Duplicate field 'w'");
    }

    @Test
    void entryWithoutDataOffsetsIsACorruptHeaderNamingTheTensor() throws IOException {
        Path file = RawSafetensors.write(dir.resolve("m.safetensors"),
                "{\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[2]}}", new byte[8]);
        assertContains(openFails(file), file.toString(), "corrupt header",
                "tensor model.norm.weight has no data_offsets");
    }

    @Test
    void entryWithMalformedShapeIsACorruptHeader() throws IOException {
        Path file = RawSafetensors.write(dir.resolve("m.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}", new byte[8]);
        assertContains(openFails(file), "corrupt header", "tensor w has shape [2,-1]",
                "expected an array of non-negative integers");
    }

    @Test
    void dataEndingPastTheEndOfTheFileIsTruncation() throws IOException {
        Path file = RawSafetensors.write(dir.resolve("t.safetensors"), GOOD_HEADER, new byte[20]);
        long headerEnd = 8 + GOOD_HEADER.length();
        assertContains(openFails(file), file.toString(), "truncated: tensor w needs bytes up to " + (headerEnd + 24)
                + " but the file has " + (headerEnd + 20));
    }

    @Test
    void byteSpanThatDisagreesWithShapeAndDtypeIsRejected() throws IOException {
        Path file = RawSafetensors.write(dir.resolve("b.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", new byte[24]);
        assertContains(openFails(file), file.toString(),
                "tensor w has shape [2, 3] and dtype F32, which need 24 bytes, but its data_offsets [0, 20] span 20 bytes");
    }

    @Test
    void unsupportedDtypeIsRejectedNamingTheTensorAndTheSupportedOnes() throws IOException {
        Path file = RawSafetensors.write(dir.resolve("i.safetensors"),
                "{\"position_ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", new byte[16]);
        assertContains(openFails(file), file.toString(),
                "tensor position_ids has unsupported dtype \"I64\" (supported: BF16, F16, F32, I8)");
    }

    @Test
    void dtypeLookupRejectsFp8NamingWhatIsSupported() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DType.fromSafetensors("F8_E4M3"));
        assertEquals("unsupported dtype \"F8_E4M3\" (supported: BF16, F16, F32, I8)", e.getMessage());
        assertEquals(DType.BF16, DType.fromSafetensors("BF16"));
        assertEquals(2, DType.F16.bytes());
        assertEquals(4, DType.F32.bytes());
    }

    @Test
    void missingTensorNamesTheTensorAndTheCheckpoint() {
        Path ckpt = dir.resolve("ckpt");
        writeCheckpointShard(ckpt, "model.safetensors", "a");
        try (Checkpoint c = Checkpoint.open(ckpt)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> c.tensor("lm_head.weight"));
            assertContains(e.getMessage(), "tensor lm_head.weight not found in checkpoint " + ckpt);
        }
    }

    @Test
    void wrongShapeNamesTheTensorTheFileAndBothShapes() {
        Path ckpt = dir.resolve("ckpt");
        SafetensorsWriter.write(ckpt.resolve("model.safetensors"),
                List.of(Entry.ofFloats("w", DType.F32, new long[]{2, 3}, new float[6])));
        try (Checkpoint c = Checkpoint.open(ckpt)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> c.tensor("w", 3, 2));
            assertEquals("tensor w in " + ckpt.resolve("model.safetensors")
                    + " has shape [2, 3], expected [3, 2] (from config.json)", e.getMessage());
        }
    }

    @Test
    void indexNamingAMissingShardNamesTheIndexTheShardAndATensor() throws IOException {
        Path ckpt = dir.resolve("ckpt");
        SafetensorsWriter.writeSharded(ckpt, List.of(
                Entry.ofFloats("a", DType.F32, new long[]{2}, new float[2]),
                Entry.ofFloats("b", DType.F32, new long[]{2}, new float[2])), 8);
        Files.delete(ckpt.resolve("model-00002-of-00002.safetensors"));
        assertContains(checkpointFails(ckpt), ckpt.resolve("model.safetensors.index.json").toString(),
                "names shard model-00002-of-00002.safetensors (for tensor b", "has no such file");
    }

    @Test
    void indexNamingATensorAbsentFromItsShardNamesBoth() throws IOException {
        Path ckpt = dir.resolve("ckpt");
        writeCheckpointShard(ckpt, "model-00001-of-00001.safetensors", "a");
        Files.writeString(ckpt.resolve("model.safetensors.index.json"), """
                {"metadata": {"total_size": 16}, "weight_map": {"a": "model-00001-of-00001.safetensors",
                 "model.norm.weight": "model-00001-of-00001.safetensors"}}
                """);
        assertContains(checkpointFails(ckpt), "maps tensor model.norm.weight to model-00001-of-00001.safetensors",
                ckpt.resolve("model-00001-of-00001.safetensors") + " does not contain it");
    }

    @Test
    void indexThatIsNotJsonIsACorruptIndex() throws IOException {
        Path ckpt = dir.resolve("ckpt");
        writeCheckpointShard(ckpt, "model-00001-of-00001.safetensors", "a");
        Files.writeString(ckpt.resolve("model.safetensors.index.json"), "{\"weight_map\": ");
        assertContains(checkpointFails(ckpt), "model.safetensors.index.json", "corrupt index", "not valid JSON");
    }

    @Test
    void indexWithoutWeightMapIsACorruptIndex() throws IOException {
        Path ckpt = dir.resolve("ckpt");
        writeCheckpointShard(ckpt, "model-00001-of-00001.safetensors", "a");
        Files.writeString(ckpt.resolve("model.safetensors.index.json"), "{\"metadata\": {}}");
        assertContains(checkpointFails(ckpt), "corrupt index", "weight_map is null");
    }

    @Test
    void indexNamingAShardOutsideTheDirectoryIsRejected() throws IOException {
        Path ckpt = dir.resolve("ckpt");
        writeCheckpointShard(ckpt, "model-00001-of-00001.safetensors", "a");
        Files.writeString(ckpt.resolve("model.safetensors.index.json"),
                "{\"weight_map\": {\"a\": \"../elsewhere.safetensors\"}}");
        assertContains(checkpointFails(ckpt), "shard \"../elsewhere.safetensors\" (for tensor a)",
                "is not a plain file name");
    }

    @Test
    void tensorInTwoFilesIsRejectedNamingBothFiles() {
        Path ckpt = dir.resolve("ckpt");
        writeCheckpointShard(ckpt, "part-a.safetensors", "x", "shared.weight");
        writeCheckpointShard(ckpt, "part-b.safetensors", "shared.weight", "y");
        assertContains(checkpointFails(ckpt),
                "tensor shared.weight is in two files of " + ckpt + ": part-a.safetensors and part-b.safetensors");
    }

    @Test
    void emptyDirectorySaysWhatWasLookedFor() throws IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        Files.writeString(empty.resolve("config.json"), "{}");
        assertEquals("no checkpoint in " + empty + ": looked for model.safetensors.index.json, model.safetensors "
                + "and any *.safetensors file, found none", checkpointFails(empty));
    }

    @Test
    void pathThatIsNotADirectoryIsRejected() {
        Path missing = dir.resolve("nowhere");
        assertContains(checkpointFails(missing), missing + ": not a directory");
    }

    @Test
    void aBadShardClosesTheShardsAlreadyOpened() throws IOException {
        Path ckpt = dir.resolve("ckpt");
        writeCheckpointShard(ckpt, "a.safetensors", "x");
        RawSafetensors.write(ckpt.resolve("b.safetensors"), "garbage!", new byte[0]);
        assertContains(checkpointFails(ckpt), "b.safetensors", "corrupt header");
        // The good shard is unmapped again: it can be deleted and rewritten without a lingering mapping.
        Files.delete(ckpt.resolve("a.safetensors"));
    }
}
