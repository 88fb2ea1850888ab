package dev.dsv2.engine.safetensors;

import dev.dsv2.engine.safetensors.SafetensorsWriter.Entry;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsRoundTripTest {
    @TempDir
    Path dir;

    private static float[] ramp(int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (i - n / 2f) * scale;
        }
        return v;
    }

    private static float widen(DType t, float v) {
        return switch (t) {
            case BF16 -> Bf16.toFloat(Bf16.fromFloat(v));
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(v));
            case F32 -> v;
            case I8 -> (float) Math.rint(v);
        };
    }

    private record Case(String name, DType dtype, long[] shape, float[] values) {
        Entry entry() {
            return Entry.ofFloats(name, dtype, shape, values);
        }
    }

    private static List<Case> mixedCases() {
        return List.of(
                new Case("w.bf16.odd", DType.BF16, new long[]{3, 5}, ramp(15, 0.37f)),
                new Case("v.f16.1d", DType.F16, new long[]{7}, ramp(7, 1.3f)),
                new Case("t.f32.3d", DType.F32, new long[]{2, 3, 4}, ramp(24, 0.123456789f)),
                new Case("s.f32.scalar", DType.F32, new long[]{}, new float[]{42.5f}),
                new Case("e.f32.empty", DType.F32, new long[]{0, 4}, new float[0]));
    }

    private static void assertHolds(TensorView t, Case c) {
        assertEquals(c.dtype(), t.dtype(), c.name());
        assertArrayEquals(c.shape(), t.shape(), c.name());
        float[] expected = new float[c.values().length];
        for (int i = 0; i < expected.length; i++) {
            expected[i] = widen(c.dtype(), c.values()[i]);
        }
        assertArrayEquals(expected, t.toFloatArray(), c.name());
    }

    @Test
    void singleFileRoundTripKeepsDtypeShapeValuesAndOrder() throws IOException {
        List<Case> cases = mixedCases();
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter.write(file, cases.stream().map(Case::entry).toList());

        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of("w.bf16.odd", "v.f16.1d", "t.f32.3d", "s.f32.scalar", "e.f32.empty"),
                    List.copyOf(f.tensors().keySet()));
            for (Case c : cases) {
                assertHolds(f.tensors().get(c.name()), c);
            }
            assertEquals(Map.of("format", "pt"), f.metadata());
            assertEquals(Files.size(file), f.sizeBytes());
            assertEquals(file, f.path());
        }
        long headerLength = ByteBuffer.wrap(Files.readAllBytes(file), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, headerLength % 8, "header padded to a multiple of 8");
        long dataBytes = 15 * 2 + 7 * 2 + 24 * 4 + 4;
        assertEquals(8 + headerLength + dataBytes, Files.size(file));
        assertFalse(Files.exists(dir.resolve("model.safetensors.tmp")), "no temporary file left behind");
    }

    @Test
    void tensorViewWidensElementsRowsAndDescribesItsShape() {
        Path file = dir.resolve("m.safetensors");
        float[] values = ramp(15, 0.5f);
        SafetensorsWriter.write(file, List.of(Entry.ofFloats("w", DType.BF16, new long[]{3, 5}, values),
                Entry.ofFloats("h", DType.F16, new long[]{2, 2}, new float[]{1, -2, 0.5f, 65504}),
                Entry.ofFloats("f", DType.F32, new long[]{2, 2}, new float[]{1e-30f, -3, 7, Float.NaN})));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            TensorView w = f.tensors().get("w");
            assertEquals(2, w.rank());
            assertEquals(3, w.dim(0));
            assertEquals(5, w.dim(1));
            assertEquals(15, w.elementCount());
            assertEquals(30, w.byteSize());
            assertEquals("[3, 5]", w.shapeString());
            assertEquals(values[7], w.getFloat(7));
            float[] row = new float[7];
            w.copyRowTo(2, row, 1);
            assertArrayEquals(new float[]{0, values[10], values[11], values[12], values[13], values[14], 0}, row);
            assertThrows(IndexOutOfBoundsException.class, () -> w.getFloat(15));
            assertThrows(IndexOutOfBoundsException.class, () -> w.copyRowTo(3, row, 0));
            assertThrows(IndexOutOfBoundsException.class, () -> w.dim(2));

            float[] hRow = new float[2];
            f.tensors().get("h").copyRowTo(1, hRow, 0);
            assertArrayEquals(new float[]{0.5f, 65504f}, hRow);
            float[] fRow = new float[2];
            f.tensors().get("f").copyRowTo(0, fRow, 0);
            assertArrayEquals(new float[]{1e-30f, -3}, fRow);
            assertTrue(Float.isNaN(f.tensors().get("f").getFloat(3)));
        }
    }

    @Test
    void tensorDataIsAReadOnlySliceOfTheMappedFile() {
        Path file = dir.resolve("m.safetensors");
        SafetensorsWriter.write(file, List.of(Entry.ofFloats("v", DType.F32, new long[]{4}, new float[]{1, 2, 3, 4})));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            TensorView v = f.tensors().get("v");
            assertTrue(v.data().isReadOnly());
            assertTrue(v.data().isMapped());
            assertEquals(16, v.data().byteSize());
            assertThrows(IllegalArgumentException.class, () -> v.data().set(TensorView.LE_FLOAT, 0, 9f));
        }
    }

    @Test
    void copyRowToRejectsTensorsThatAreNotMatrices() {
        Path file = dir.resolve("m.safetensors");
        SafetensorsWriter.write(file, List.of(Entry.ofFloats("v", DType.F32, new long[]{4}, new float[]{1, 2, 3, 4})));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> f.tensors().get("v").copyRowTo(0, new float[4], 0));
            assertTrue(e.getMessage().contains("v has shape [4]"), e.getMessage());
        }
    }

    @Test
    void offsetsBeyond2GiBAreReadWithLongArithmetic() throws IOException {
        // A 5 GiB bf16 tensor (2.7e9 elements) in a sparse file: only the pages we touch are materialised.
        long rows = 2560;
        long cols = 1L << 20;
        long bytes = rows * cols * 2;
        String header = "{\"big\":{\"dtype\":\"BF16\",\"shape\":[" + rows + "," + cols + "],\"data_offsets\":[0,"
                + bytes + "]}}";
        Path file = dir.resolve("big.safetensors");
        RawSafetensors.write(file, header, new byte[0]);
        long dataStart = 8 + header.length();
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(dataStart + bytes);
        }
        long lastIndex = rows * cols - 1;
        long pastTwoGiB = (1L << 31) + 7;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(RawSafetensors.u16(0x4040)), dataStart + lastIndex * 2);          // 3.0
            ch.write(ByteBuffer.wrap(RawSafetensors.u16(0xC0A0)), dataStart + pastTwoGiB * 2);         // -5.0
        }
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            TensorView big = f.tensors().get("big");
            assertEquals(bytes, big.byteSize());
            assertEquals(3.0f, big.getFloat(lastIndex));
            assertEquals(-5.0f, big.getFloat(pastTwoGiB));
            assertEquals(0.0f, big.getFloat(lastIndex - 1));
            float[] row = new float[(int) cols];
            big.copyRowTo(rows - 1, row, 0);
            assertEquals(3.0f, row[(int) cols - 1]);
        }
    }

    @Test
    void shardedWriteSplitsByByteBudgetAndWritesTheHfIndex() throws IOException {
        List<Entry> entries = new ArrayList<>();
        List<float[]> values = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            float[] v = ramp(16, 0.25f * (i + 1));
            values.add(v);
            entries.add(Entry.ofFloats("layer." + i + ".weight", DType.F32, new long[]{4, 4}, v));
        }
        Path out = dir.resolve("ckpt");
        List<Path> shards = SafetensorsWriter.writeSharded(out, entries, 128, line -> {
        });

        assertEquals(List.of(out.resolve("model-00001-of-00003.safetensors"), out.resolve("model-00002-of-00003.safetensors"),
                out.resolve("model-00003-of-00003.safetensors")), shards);
        String expectedIndex = """
                {
                  "metadata": {
                    "total_size": 320
                  },
                  "weight_map": {
                    "layer.0.weight": "model-00001-of-00003.safetensors",
                    "layer.1.weight": "model-00001-of-00003.safetensors",
                    "layer.2.weight": "model-00002-of-00003.safetensors",
                    "layer.3.weight": "model-00002-of-00003.safetensors",
                    "layer.4.weight": "model-00003-of-00003.safetensors"
                  }
                }
                """;
        assertEquals(expectedIndex, Files.readString(out.resolve("model.safetensors.index.json")));
        for (Path shard : shards) {
            // Our checkpoints' tensor data starts 64-byte aligned (HF pads to 8 only): the header is space-padded.
            byte[] bytes = Files.readAllBytes(shard);
            long headerLength = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, (8 + headerLength) % SafetensorsWriter.DATA_ALIGNMENT, shard + ": data offset");
            String header = new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8);
            assertTrue(header.stripTrailing().endsWith("}") && header.length() - header.stripTrailing().length() < 64,
                    shard + ": header is the JSON, then fewer than 64 spaces");
        }

        try (Checkpoint ckpt = Checkpoint.open(out)) {
            assertEquals(shards, ckpt.files());
            assertEquals(320, ckpt.totalBytes());
            assertEquals(out, ckpt.directory());
            for (int i = 0; i < 5; i++) {
                TensorView t = ckpt.tensor("layer." + i + ".weight", 4, 4);
                assertArrayEquals(values.get(i), t.toFloatArray());
                assertTrue(ckpt.contains(t.name()));
            }
            assertEquals(5, ckpt.names().size());
            assertEquals("model-00002-of-00003.safetensors",
                    ckpt.tensor("layer.3.weight").file().getFileName().toString());
        }
    }

    @Test
    void aSingleShardStillGetsAnIndexAndStaleShardsAreRemoved() throws IOException {
        Path out = dir.resolve("ckpt");
        List<Entry> five = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            five.add(Entry.ofFloats("t" + i, DType.BF16, new long[]{8}, ramp(8, 1)));
        }
        SafetensorsWriter.writeSharded(out, five, 16);
        assertTrue(Files.exists(out.resolve("model-00005-of-00005.safetensors")));

        SafetensorsWriter.writeSharded(out, five.subList(0, 2), 1L << 30);
        try (var files = Files.list(out)) {
            assertEquals(List.of("model-00001-of-00001.safetensors", "model.safetensors.index.json"),
                    files.map(p -> p.getFileName().toString()).sorted().toList());
        }
        try (Checkpoint ckpt = Checkpoint.open(out)) {
            assertEquals(List.of("t0", "t1"), List.copyOf(ckpt.names()));
        }
    }

    @Test
    void aTensorLargerThanTheShardBudgetGetsAShardOfItsOwn() {
        Path out = dir.resolve("ckpt");
        SafetensorsWriter.writeSharded(out, List.of(
                Entry.ofFloats("small", DType.F32, new long[]{2}, new float[]{1, 2}),
                Entry.ofFloats("huge", DType.F32, new long[]{16}, ramp(16, 1)),
                Entry.ofFloats("tail", DType.F32, new long[]{2}, new float[]{3, 4})), 32);
        try (Checkpoint ckpt = Checkpoint.open(out)) {
            assertEquals(3, ckpt.files().size());
            assertEquals("model-00002-of-00003.safetensors", ckpt.tensor("huge").file().getFileName().toString());
        }
    }

    @Test
    void withoutAnIndexTheCheckpointIsModelSafetensorsOrElseEverySafetensorsFile() {
        Path single = dir.resolve("single");
        SafetensorsWriter.write(single.resolve("model.safetensors"),
                List.of(Entry.ofFloats("a", DType.F32, new long[]{1}, new float[]{1})));
        try (Checkpoint ckpt = Checkpoint.open(single)) {
            assertEquals(List.of(single.resolve("model.safetensors")), ckpt.files());
            assertEquals(1f, ckpt.tensor("a", 1).getFloat(0));
        }

        Path loose = dir.resolve("loose");
        SafetensorsWriter.write(loose.resolve("b.safetensors"),
                List.of(Entry.ofFloats("b", DType.F32, new long[]{1}, new float[]{2})));
        SafetensorsWriter.write(loose.resolve("a.safetensors"),
                List.of(Entry.ofFloats("a", DType.F32, new long[]{1}, new float[]{1})));
        List<String> progress = new ArrayList<>();
        try (Checkpoint ckpt = Checkpoint.open(loose, progress::add)) {
            assertEquals(List.of(loose.resolve("a.safetensors"), loose.resolve("b.safetensors")), ckpt.files());
            assertEquals(2f, ckpt.tensor("b").getFloat(0));
        }
        assertEquals(2, progress.size());
        assertTrue(progress.get(0).startsWith("opened a.safetensors: "), progress.get(0));
        assertTrue(progress.get(0).endsWith(", 1 tensors"), progress.get(0));
    }

    @Test
    void aFailedFillLeavesNoFileBehind() {
        Path file = dir.resolve("model.safetensors");
        RuntimeException boom = new RuntimeException("generator failed");
        RuntimeException e = assertThrows(RuntimeException.class, () -> SafetensorsWriter.write(file,
                List.of(new Entry("x", DType.F32, new long[]{2}, seg -> {
                    throw boom;
                }))));
        assertEquals(boom, e);
        assertFalse(Files.exists(file));
        assertFalse(Files.exists(dir.resolve("model.safetensors.tmp")));
    }

    @Test
    void duplicateOrReservedTensorNamesAreRejectedBeforeWriting() {
        Path file = dir.resolve("model.safetensors");
        Entry a = Entry.ofFloats("a", DType.F32, new long[]{1}, new float[]{1});
        IllegalArgumentException twice = assertThrows(IllegalArgumentException.class,
                () -> SafetensorsWriter.write(file, List.of(a, a)));
        assertEquals("tensor name a is given twice", twice.getMessage());
        IllegalArgumentException reserved = assertThrows(IllegalArgumentException.class,
                () -> SafetensorsWriter.write(file, List.of(Entry.ofFloats("__metadata__", DType.F32, new long[]{1},
                        new float[]{1}))));
        assertEquals("tensor name __metadata__ is reserved", reserved.getMessage());
        assertFalse(Files.exists(file));
    }
}
