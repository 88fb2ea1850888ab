package dev.dsv2.engine.safetensors;

import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One {@code .safetensors} file, mapped into memory once; each tensor is a read-only slice of that mapping.
 *
 * <p>Format (as written by HF {@code safetensors}): an 8-byte little-endian unsigned header length {@code N},
 * then {@code N} bytes of UTF-8 JSON (often space-padded to a multiple of 8), then the data section. The JSON
 * object maps each tensor name to {@code {"dtype": "BF16", "shape": [rows, cols], "data_offsets": [begin, end]}}
 * with offsets relative to the start of the data section; the optional key {@code __metadata__} maps strings to
 * strings. Offsets are {@code long} throughout: shards are many GiB.
 *
 * <p>Everything is validated on {@link #open}: a header that is not a JSON object of complete entries, offsets
 * past the end of the file, a byte span that disagrees with shape × dtype size, or a dtype outside
 * {@link DType} raise a {@link CheckpointException} naming the file and tensor. Any entry order and any set of
 * header keys that the format allows is accepted, not only what {@link SafetensorsWriter} writes.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The largest header the reference implementation accepts. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    public static final String METADATA_KEY = "__metadata__";

    private static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    private final Path path;
    private final long sizeBytes;
    private final Arena arena;
    private final Map<String, TensorView> tensors;
    private final Map<String, String> metadata;
    private boolean closed;

    private SafetensorsFile(Path path, long sizeBytes, Arena arena, Map<String, TensorView> tensors,
                            Map<String, String> metadata) {
        this.path = path;
        this.sizeBytes = sizeBytes;
        this.arena = arena;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps {@code file} read-only and validates its header and every tensor entry. */
    public static SafetensorsFile open(Path file) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment all;
            long size;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                size = ch.size();
                if (size < 8) {
                    throw new CheckpointException(file + ": corrupt header: the file has " + size
                            + " bytes, fewer than the 8-byte header length that starts every safetensors file");
                }
                all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            }
            long headerLength = all.get(LE_LONG, 0);
            if (headerLength < 0 || headerLength > size - 8) {
                throw new CheckpointException(file + ": corrupt header: it declares a header of "
                        + Long.toUnsignedString(headerLength) + " bytes but the file has only " + (size - 8)
                        + " bytes after the 8-byte length (file size " + size + ")");
            }
            if (headerLength > MAX_HEADER_BYTES) {
                throw new CheckpointException(file + ": corrupt header: it declares a header of " + headerLength
                        + " bytes, more than the " + MAX_HEADER_BYTES + "-byte limit of the safetensors format");
            }
            byte[] headerBytes = all.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
            long dataStart = 8 + headerLength;
            Header header = parseHeader(file, headerBytes);
            Map<String, TensorView> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> e : header.entries().entrySet()) {
                TensorView t = tensor(file, e.getKey(), e.getValue(), all, dataStart, size);
                tensors.put(t.name(), t);
            }
            return new SafetensorsFile(file, size, arena, Collections.unmodifiableMap(tensors),
                    Collections.unmodifiableMap(header.metadata()));
        } catch (NoSuchFileException e) {
            arena.close();
            throw new CheckpointException(file + ": no such file");
        } catch (IOException e) {
            arena.close();
            throw new CheckpointException(file + ": cannot read: " + e, e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private record Header(Map<String, JsonNode> entries, Map<String, String> metadata) {
    }

    private static Header parseHeader(Path file, byte[] headerBytes) {
        JsonNode root;
        try {
            root = JSON.readTree(headerBytes);
        } catch (IOException e) {
            String why = e.getMessage() == null ? e.toString() : e.getMessage().lines().findFirst().orElse("");
            throw new CheckpointException(file + ": corrupt header: the " + headerBytes.length
                    + "-byte header is not valid JSON (" + why + ")");
        }
        if (root == null || root.isMissingNode()) {
            throw new CheckpointException(file + ": corrupt header: the " + headerBytes.length
                    + "-byte header is empty, expected a JSON object of tensor entries");
        }
        if (!root.isObject()) {
            throw new CheckpointException(file + ": corrupt header: the header is a JSON " + root.getNodeType()
                    .name().toLowerCase() + ", expected a JSON object of tensor entries");
        }
        Map<String, JsonNode> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            if (field.getKey().equals(METADATA_KEY)) {
                JsonNode m = field.getValue();
                if (!m.isObject()) {
                    throw new CheckpointException(file + ": corrupt header: " + METADATA_KEY + " is " + m
                            + ", expected an object of string values");
                }
                for (Map.Entry<String, JsonNode> kv : m.properties()) {
                    if (!kv.getValue().isTextual()) {
                        throw new CheckpointException(file + ": corrupt header: " + METADATA_KEY + "." + kv.getKey()
                                + " is " + kv.getValue() + ", expected a string");
                    }
                    metadata.put(kv.getKey(), kv.getValue().textValue());
                }
            } else {
                entries.put(field.getKey(), field.getValue());
            }
        }
        return new Header(entries, metadata);
    }

    private static TensorView tensor(Path file, String name, JsonNode entry, MemorySegment all, long dataStart,
                                     long fileSize) {
        if (!entry.isObject()) {
            throw new CheckpointException(file + ": corrupt header: entry for tensor " + name + " is " + entry
                    + ", expected an object with dtype, shape and data_offsets");
        }
        for (String key : new String[]{"dtype", "shape", "data_offsets"}) {
            if (!entry.has(key)) {
                throw new CheckpointException(file + ": corrupt header: tensor " + name + " has no " + key
                        + " (each entry needs dtype, shape and data_offsets; found " + entry + ")");
            }
        }
        JsonNode dtypeNode = entry.get("dtype");
        if (!dtypeNode.isTextual()) {
            throw new CheckpointException(file + ": corrupt header: tensor " + name + " has dtype " + dtypeNode
                    + ", expected a string such as \"BF16\"");
        }
        DType dtype;
        try {
            dtype = DType.fromSafetensors(dtypeNode.textValue());
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(file + ": tensor " + name + " has unsupported dtype \""
                    + dtypeNode.textValue() + "\" (supported: " + DType.supportedNames() + ")");
        }
        long[] shape = nonNegativeLongs(file, name, "shape", entry.get("shape"), -1);
        long[] offsets = nonNegativeLongs(file, name, "data_offsets", entry.get("data_offsets"), 2);
        long begin = offsets[0];
        long end = offsets[1];
        if (end < begin) {
            throw new CheckpointException(file + ": corrupt header: tensor " + name + " has data_offsets [" + begin
                    + ", " + end + "], whose end is before its begin");
        }
        long dataSize = fileSize - dataStart;
        if (end > dataSize) {
            throw new CheckpointException(file + ": truncated: tensor " + name + " needs bytes up to "
                    + (dataStart + end) + " but the file has " + fileSize + " (data_offsets [" + begin + ", " + end
                    + "] after a data section starting at byte " + dataStart + ")");
        }
        long expectedBytes;
        try {
            expectedBytes = Math.multiplyExact(TensorView.elementCount(shape), dtype.bytes());
        } catch (ArithmeticException e) {
            throw new CheckpointException(file + ": corrupt header: tensor " + name + " has shape "
                    + TensorView.shapeString(shape) + ", whose byte size overflows a long");
        }
        if (end - begin != expectedBytes) {
            throw new CheckpointException(file + ": tensor " + name + " has shape " + TensorView.shapeString(shape)
                    + " and dtype " + dtype.safetensorsName() + ", which need " + expectedBytes
                    + " bytes, but its data_offsets [" + begin + ", " + end + "] span " + (end - begin) + " bytes");
        }
        MemorySegment data = all.asSlice(dataStart + begin, expectedBytes).asReadOnly();
        return new TensorView(name, dtype, shape, data, file);
    }

    private static long[] nonNegativeLongs(Path file, String tensor, String key, JsonNode node, int requiredLength) {
        String expected = requiredLength < 0 ? "an array of non-negative integers"
                : "an array of " + requiredLength + " non-negative integers";
        if (!node.isArray() || (requiredLength >= 0 && node.size() != requiredLength)) {
            throw new CheckpointException(file + ": corrupt header: tensor " + tensor + " has " + key + " " + node
                    + ", expected " + expected);
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) {
                throw new CheckpointException(file + ": corrupt header: tensor " + tensor + " has " + key + " "
                        + node + ", expected " + expected);
            }
            out[i] = v.longValue();
        }
        return out;
    }

    /** The tensors in header order. */
    public Map<String, TensorView> tensors() {
        return tensors;
    }

    /** The {@code __metadata__} of the header (empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    public Path path() {
        return path;
    }

    public long sizeBytes() {
        return sizeBytes;
    }

    /** Unmaps the file; every {@link TensorView} of it becomes unusable. Closing twice is harmless. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + sizeBytes + " bytes, " + tensors.size() + " tensors]";
    }
}
