package dev.dsv2.engine.safetensors;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.dsv2.engine.tensor.Bf16;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * Writes safetensors files byte-compatible with HF {@code safetensors}: the 8-byte little-endian header length,
 * the compact JSON header ({@code __metadata__} first, then one {@code {"dtype","shape","data_offsets"}} entry per
 * tensor) padded with spaces to a multiple of 8 bytes, then the tensors contiguously in the order given.
 * (HF sorts tensors by dtype and name before writing; any order is valid and every reader accepts it. We keep the
 * caller's order so that a checkpoint's layout follows the model.)
 *
 * <p>The checkpoints this project writes ({@link #writeSharded}: {@code make-model}, {@code quantize}) pad the header
 * further, so that the tensor data starts {@value #DATA_ALIGNMENT}-byte aligned in the file (and so in its mapping):
 * a tensor whose byte offset is a multiple of 64 (every tensor of the V2 layouts, whose sizes are) then has each row's
 * 64-byte vector loads inside one cache line. HF's own 8-byte padding leaves them straddling two: the native kernels
 * ran batch-16 decode 15-37% faster on the same weights aligned (docs/performance.md). The extra spaces are valid
 * safetensors (readers parse the header as JSON, trailing whitespace included).
 *
 * <p>Tensor bytes are never held on the heap: each {@link Entry} fills its own slice of a read-write mapping of
 * the output file, so multi-GiB shards stream straight into the page cache. A file is written under a temporary
 * name and moved into place when complete, so a failed fill leaves no half-written file behind.
 *
 * <p>{@link #writeSharded} splits tensors into {@code model-00001-of-0000N.safetensors} shards and writes
 * {@code model.safetensors.index.json} exactly as transformers' {@code save_pretrained} does
 * ({@code json.dumps(index, indent=2, sort_keys=True) + "\n"}).
 */
public final class SafetensorsWriter {
    public static final String INDEX_FILE = "model.safetensors.index.json";
    public static final String SINGLE_FILE = "model.safetensors";
    /** The metadata transformers' {@code save_pretrained} writes into every shard. */
    public static final Map<String, String> PT_METADATA = Map.of("format", "pt");

    /** Alignment of the tensor data in {@link #writeSharded}'s files (HF pads the header to 8 bytes only). */
    public static final int DATA_ALIGNMENT = 64;
    /** HF {@code safetensors}' header padding, kept by {@link #write}. */
    private static final int HF_ALIGNMENT = 8;

    private static final Pattern SHARD_NAME = Pattern.compile("model-\\d{5}-of-\\d{5}\\.safetensors");
    private static final JsonFactory JSON_FACTORY = new JsonFactory();

    private SafetensorsWriter() {
    }

    /**
     * One tensor to write.
     *
     * @param fill writes the tensor's little-endian bytes into a segment of exactly {@link #byteSize()} bytes;
     *             it may use several threads (the segment is shared)
     */
    public record Entry(String name, DType dtype, long[] shape, Consumer<MemorySegment> fill) {
        public Entry {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(dtype, "dtype");
            Objects.requireNonNull(fill, "fill");
            shape = shape.clone();
            TensorView.elementCount(shape);
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        public long elementCount() {
            return TensorView.elementCount(shape);
        }

        public long byteSize() {
            return Math.multiplyExact(elementCount(), dtype.bytes());
        }

        /** An entry holding {@code values} converted to {@code dtype} (small tensors and tests). */
        public static Entry ofFloats(String name, DType dtype, long[] shape, float[] values) {
            if (TensorView.elementCount(shape) != values.length) {
                throw new IllegalArgumentException("tensor " + name + ": shape " + Arrays.toString(shape)
                        + " holds " + TensorView.elementCount(shape) + " elements, got " + values.length + " values");
            }
            float[] copy = values.clone();
            return new Entry(name, dtype, shape, seg -> {
                for (int i = 0; i < copy.length; i++) {
                    switch (dtype) {
                        case BF16 -> seg.set(TensorView.LE_SHORT, 2L * i, Bf16.fromFloat(copy[i]));
                        case F16 -> seg.set(TensorView.LE_SHORT, 2L * i, Float.floatToFloat16(copy[i]));
                        case F32 -> seg.set(TensorView.LE_FLOAT, 4L * i, copy[i]);
                        case I8 -> seg.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) Math.rint(copy[i]));
                    }
                }
            });
        }
    }

    /** Writes {@code entries} to {@code file} with {@code __metadata__ {"format":"pt"}}. */
    public static void write(Path file, List<Entry> entries) {
        write(file, entries, PT_METADATA);
    }

    /** Writes {@code entries} to {@code file}; an empty {@code metadata} map omits {@code __metadata__}. */
    public static void write(Path file, List<Entry> entries, Map<String, String> metadata) {
        write(file, entries, metadata, HF_ALIGNMENT);
    }

    /** {@link #write(Path, List, Map)} with the data starting at a multiple of {@code alignment} bytes. */
    private static void write(Path file, List<Entry> entries, Map<String, String> metadata, int alignment) {
        byte[] header = header(entries, metadata, alignment);
        long dataBytes = 0;
        for (Entry e : entries) {
            dataBytes = Math.addExact(dataBytes, e.byteSize());
        }
        long total = 8 + header.length + dataBytes;
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = dir.resolve(file.getFileName() + ".tmp");
        try {
            Files.createDirectories(dir);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.READ, StandardOpenOption.WRITE);
                 Arena arena = Arena.ofShared()) {
                MemorySegment out = ch.map(FileChannel.MapMode.READ_WRITE, 0, total, arena);
                out.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, header.length);
                MemorySegment.copy(header, 0, out, ValueLayout.JAVA_BYTE, 8, header.length);
                long offset = 8 + header.length;
                for (Entry e : entries) {
                    long n = e.byteSize();
                    e.fill().accept(out.asSlice(offset, n));
                    offset += n;
                }
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw new CheckpointException(file + ": cannot write: " + e, e);
        } catch (RuntimeException | Error e) {
            deleteQuietly(tmp);
            throw e;
        }
    }

    /**
     * The header bytes (without the 8-byte length): compact JSON as serde_json writes it, space-padded to a
     * multiple of 8.
     */
    public static byte[] header(List<Entry> entries, Map<String, String> metadata) {
        return header(entries, metadata, HF_ALIGNMENT);
    }

    /**
     * The header bytes, space-padded so that the data after them (and the 8-byte length) starts at a multiple of
     * {@code alignment} (a multiple of 8).
     */
    private static byte[] header(List<Entry> entries, Map<String, String> metadata, int alignment) {
        Set<String> names = new HashSet<>();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON_FACTORY.createGenerator(buf)) {
            g.writeStartObject();
            if (!metadata.isEmpty()) {
                g.writeObjectFieldStart(SafetensorsFile.METADATA_KEY);
                for (Map.Entry<String, String> kv : metadata.entrySet()) {
                    g.writeStringField(kv.getKey(), kv.getValue());
                }
                g.writeEndObject();
            }
            long offset = 0;
            for (Entry e : entries) {
                if (e.name().equals(SafetensorsFile.METADATA_KEY)) {
                    throw new IllegalArgumentException("tensor name " + e.name() + " is reserved");
                }
                if (!names.add(e.name())) {
                    throw new IllegalArgumentException("tensor name " + e.name() + " is given twice");
                }
                long end = offset + e.byteSize();
                g.writeObjectFieldStart(e.name());
                g.writeStringField("dtype", e.dtype().safetensorsName());
                g.writeArrayFieldStart("shape");
                for (long d : e.shape) {
                    g.writeNumber(d);
                }
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(offset);
                g.writeNumber(end);
                g.writeEndArray();
                g.writeEndObject();
                offset = end;
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        int len = buf.size();
        int padded = (8 + len + alignment - 1) / alignment * alignment - 8;
        for (int i = len; i < padded; i++) {
            buf.write(' ');
        }
        return buf.toByteArray();
    }

    /** {@link #writeSharded(Path, List, long, Consumer)} without progress lines. */
    public static void writeSharded(Path dir, List<Entry> entries, long maxShardBytes) {
        writeSharded(dir, entries, maxShardBytes, line -> {
        });
    }

    /**
     * Writes {@code entries} in order into shards of at most {@code maxShardBytes} of tensor data each (a tensor
     * larger than that gets a shard of its own), named {@code model-0000i-of-0000N.safetensors}, plus
     * {@code model.safetensors.index.json}, each shard's data {@value #DATA_ALIGNMENT}-byte aligned. The index is
     * written even for a single shard. Shard files of an
     * earlier write into {@code dir} that this write does not produce, and a plain {@code model.safetensors},
     * are deleted so that the directory holds exactly one checkpoint.
     *
     * @return the shard paths, in order
     */
    public static List<Path> writeSharded(Path dir, List<Entry> entries, long maxShardBytes, Consumer<String> progress) {
        if (maxShardBytes <= 0) {
            throw new IllegalArgumentException("maxShardBytes must be > 0, got " + maxShardBytes);
        }
        List<List<Entry>> shards = new ArrayList<>();
        List<Entry> current = new ArrayList<>();
        long currentBytes = 0;
        for (Entry e : entries) {
            if (!current.isEmpty() && currentBytes + e.byteSize() > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                currentBytes = 0;
            }
            current.add(e);
            currentBytes += e.byteSize();
        }
        if (!current.isEmpty() || shards.isEmpty()) {
            shards.add(current);
        }
        int n = shards.size();
        TreeMap<String, String> weightMap = new TreeMap<>();
        long totalSize = 0;
        List<Path> paths = new ArrayList<>();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new CheckpointException(dir + ": cannot create directory: " + e, e);
        }
        for (int i = 0; i < n; i++) {
            String fileName = shardName(i + 1, n);
            List<Entry> shard = shards.get(i);
            long bytes = 0;
            for (Entry e : shard) {
                if (weightMap.put(e.name(), fileName) != null) {
                    throw new IllegalArgumentException("tensor name " + e.name() + " is given twice");
                }
                bytes += e.byteSize();
            }
            long start = System.nanoTime();
            Path path = dir.resolve(fileName);
            write(path, shard, PT_METADATA, DATA_ALIGNMENT);
            totalSize += bytes;
            paths.add(path);
            progress.accept(String.format("wrote %s: %s, %d tensors in %.1f s", fileName, humanBytes(bytes),
                    shard.size(), (System.nanoTime() - start) / 1e9));
        }
        writeIndex(dir.resolve(INDEX_FILE), totalSize, weightMap);
        deleteStaleShards(dir, paths);
        return paths;
    }

    /** {@code model-00001-of-00003.safetensors}. */
    public static String shardName(int index, int count) {
        return String.format("model-%05d-of-%05d.safetensors", index, count);
    }

    private static void writeIndex(Path file, long totalSize, TreeMap<String, String> weightMap) {
        StringBuilder sb = new StringBuilder();
        sb.append("{\n  \"metadata\": {\n    \"total_size\": ").append(totalSize).append("\n  },\n");
        sb.append("  \"weight_map\": {");
        boolean first = true;
        for (Map.Entry<String, String> e : weightMap.entrySet()) {
            sb.append(first ? "\n" : ",\n");
            first = false;
            sb.append("    ").append(pythonJsonString(e.getKey())).append(": ").append(pythonJsonString(e.getValue()));
        }
        sb.append(first ? "}\n}\n" : "\n  }\n}\n");
        try {
            Files.writeString(file, sb, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot write: " + e, e);
        }
    }

    /** A JSON string literal as Python's {@code json.dumps} writes it (ensure_ascii). */
    static String pythonJsonString(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || c > 0x7e) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }

    private static void deleteStaleShards(Path dir, List<Path> keep) {
        Set<Path> kept = new HashSet<>();
        for (Path p : keep) {
            kept.add(p.getFileName());
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String name = p.getFileName().toString();
                if ((SHARD_NAME.matcher(name).matches() || name.equals(SINGLE_FILE)) && !kept.contains(p.getFileName())) {
                    Files.deleteIfExists(p);
                }
            }
        } catch (IOException e) {
            throw new CheckpointException(dir + ": cannot remove stale shards: " + e, e);
        }
    }

    static String humanBytes(long bytes) {
        if (bytes >= 1L << 30) {
            return String.format("%.2f GiB", bytes / (double) (1L << 30));
        }
        if (bytes >= 1L << 20) {
            return String.format("%.1f MiB", bytes / (double) (1L << 20));
        }
        if (bytes >= 1L << 10) {
            return String.format("%.1f KiB", bytes / (double) (1L << 10));
        }
        return bytes + " B";
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // the original failure is what the caller needs to see
        }
    }
}
