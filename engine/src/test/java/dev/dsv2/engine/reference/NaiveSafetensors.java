package dev.dsv2.engine.reference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * The oracle's own minimal safetensors reader, deliberately independent of the engine's loader. A checkpoint
 * directory holds {@code model.safetensors.index.json} (its {@code weight_map} names the shard of every tensor) or,
 * without an index, every {@code *.safetensors} file in it. A file is an 8-byte little-endian header length N, N
 * bytes of JSON {@code {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}}, then the data
 * (offsets are relative to the byte after the header). BF16, F16 and F32 values are widened to {@code double[]},
 * row-major, all read eagerly.
 */
public final class NaiveSafetensors {
    private record Entry(Path file, int[] shape, double[] values) {}

    private final Path dir;
    private final Map<String, Entry> tensors = new TreeMap<>();
    private final Set<String> taken = new TreeSet<>();

    public NaiveSafetensors(Path dir) {
        this.dir = dir;
        ObjectMapper json = new ObjectMapper();
        try {
            Path index = dir.resolve("model.safetensors.index.json");
            if (Files.exists(index)) {
                Map<String, Path> expected = new TreeMap<>();
                json.readTree(index.toFile()).path("weight_map").properties()
                        .forEach(e -> expected.put(e.getKey(), dir.resolve(e.getValue().asText())));
                for (Path shard : new TreeSet<>(expected.values())) readFile(shard, json);
                expected.forEach((name, shard) -> {
                    if (!tensors.containsKey(name) || !tensors.get(name).file.equals(shard)) {
                        throw new IllegalArgumentException(index + ": weight_map puts '" + name + "' in " + shard
                                + " but that file does not hold it");
                    }
                });
            } else {
                try (Stream<Path> files = Files.list(dir)) {
                    for (Path f : files.filter(p -> p.toString().endsWith(".safetensors")).sorted().toList()) {
                        readFile(f, json);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read checkpoint " + dir, e);
        }
        if (tensors.isEmpty()) throw new IllegalArgumentException(dir + ": no tensors (no index, no *.safetensors)");
    }

    private void readFile(Path file, ObjectMapper json) throws IOException {
        try (FileChannel ch = FileChannel.open(file)) {
            long headerLength = read(ch, 0, 8).getLong();
            ByteBuffer headerBytes = read(ch, 8, Math.toIntExact(headerLength));
            JsonNode header = json.readTree(headerBytes.array());
            for (var e : header.properties()) {
                if (e.getKey().equals("__metadata__")) continue;
                JsonNode t = e.getValue();
                int[] shape = new int[t.get("shape").size()];
                long count = 1;
                for (int i = 0; i < shape.length; i++) count *= shape[i] = t.get("shape").get(i).intValue();
                String dtype = t.get("dtype").asText();
                int width = switch (dtype) {
                    case "BF16", "F16" -> 2;
                    case "F32" -> 4;
                    default -> throw new IllegalArgumentException(file + ": tensor '" + e.getKey() + "' has dtype "
                            + dtype + ", expected BF16, F16 or F32");
                };
                long begin = t.get("data_offsets").get(0).longValue(), end = t.get("data_offsets").get(1).longValue();
                if (end - begin != count * width) {
                    throw new IllegalArgumentException(file + ": tensor '" + e.getKey() + "' data_offsets [" + begin
                            + ", " + end + "] span " + (end - begin) + " bytes, expected " + count * width);
                }
                ByteBuffer data = read(ch, 8 + headerLength + begin, Math.toIntExact(end - begin));
                double[] values = new double[(int) count];
                for (int i = 0; i < values.length; i++) {
                    values[i] = switch (dtype) {
                        case "BF16" -> Float.intBitsToFloat((data.getShort() & 0xFFFF) << 16);
                        case "F16" -> Float.float16ToFloat(data.getShort());
                        default -> data.getFloat();
                    };
                }
                if (tensors.put(e.getKey(), new Entry(file, shape, values)) != null) {
                    throw new IllegalArgumentException(
                            dir + ": tensor '" + e.getKey() + "' appears twice (again in " + file + ")");
                }
            }
        }
    }

    private static ByteBuffer read(FileChannel ch, long position, int length) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        while (buf.hasRemaining()) {
            if (ch.read(buf, position + buf.position()) < 0) {
                throw new IOException("file ends before byte " + (position + length));
            }
        }
        return buf.flip();
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    /** The values of {@code name}, row-major, after checking its shape; marks the tensor as used. */
    public double[] get(String name, int... expectedShape) {
        Entry e = tensors.get(name);
        if (e == null) throw new IllegalArgumentException(dir + ": no tensor '" + name + "'");
        if (!Arrays.equals(e.shape, expectedShape)) {
            throw new IllegalArgumentException(e.file + ": tensor '" + name + "' has shape " + Arrays.toString(e.shape)
                    + ", expected " + Arrays.toString(expectedShape));
        }
        taken.add(name);
        return e.values;
    }

    /** Names present in the checkpoint that {@link #get} never asked for. */
    public Set<String> unused() {
        Set<String> rest = new TreeSet<>(tensors.keySet());
        rest.removeAll(taken);
        return rest;
    }
}
