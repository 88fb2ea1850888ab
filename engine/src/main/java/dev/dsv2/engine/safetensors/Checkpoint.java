package dev.dsv2.engine.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.engine.tensor.TensorView;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.LongConsumer;

/**
 * The tensors of an HF checkpoint directory, each file mapped once. Which files make up the checkpoint:
 * <ol>
 *   <li>{@code model.safetensors.index.json} when present: the shards its {@code weight_map} names, each opened
 *       once, in file name order; every tensor the index names must be in the shard it names;</li>
 *   <li>else {@code model.safetensors};</li>
 *   <li>else every {@code *.safetensors} file of the directory, in name order.</li>
 * </ol>
 * A tensor name found in two files is an error, as is a directory with none of the above. Lookups are by HF
 * tensor name; {@link #tensor(String, long...)} also checks the shape that config.json implies.
 */
public final class Checkpoint implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path directory;
    private final List<SafetensorsFile> files;
    private final Map<String, TensorView> tensors;
    private final Map<String, String> indexShards;

    private Checkpoint(Path directory, List<SafetensorsFile> files, Map<String, TensorView> tensors,
                       Map<String, String> indexShards) {
        this.directory = directory;
        this.files = files;
        this.tensors = tensors;
        this.indexShards = indexShards;
    }

    public static Checkpoint open(Path dir) {
        return open(dir, line -> {
        });
    }

    /** Opens the checkpoint in {@code dir}, reporting one line per file opened (name, size, tensor count). */
    public static Checkpoint open(Path dir, Consumer<String> progress) {
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(dir + ": not a directory (a checkpoint is a directory holding "
                    + SafetensorsWriter.INDEX_FILE + " and its shards, or " + SafetensorsWriter.SINGLE_FILE + ")");
        }
        Path index = dir.resolve(SafetensorsWriter.INDEX_FILE);
        List<SafetensorsFile> opened = new ArrayList<>();
        try {
            Map<String, String> indexShards = Map.of();
            if (Files.isRegularFile(index)) {
                indexShards = readWeightMap(index);
                Map<String, List<String>> byShard = new TreeMap<>();
                indexShards.forEach((tensor, shard) -> byShard.computeIfAbsent(shard, s -> new ArrayList<>()).add(tensor));
                for (Map.Entry<String, List<String>> e : byShard.entrySet()) {
                    String shard = e.getKey();
                    Path file = shardPath(dir, index, shard, e.getValue().getFirst());
                    if (!Files.isRegularFile(file)) {
                        throw new CheckpointException(index + " names shard " + shard + " (for tensor "
                                + e.getValue().getFirst() + " and " + (e.getValue().size() - 1)
                                + " more) but " + dir + " has no such file");
                    }
                    SafetensorsFile f = openReporting(file, progress);
                    opened.add(f);
                    for (String tensor : e.getValue()) {
                        if (!f.tensors().containsKey(tensor)) {
                            throw new CheckpointException(index + " maps tensor " + tensor + " to " + shard + " but "
                                    + file + " does not contain it (it holds " + f.tensors().size() + " tensors)");
                        }
                    }
                }
            } else if (Files.isRegularFile(dir.resolve(SafetensorsWriter.SINGLE_FILE))) {
                opened.add(openReporting(dir.resolve(SafetensorsWriter.SINGLE_FILE), progress));
            } else {
                List<Path> all = listSafetensors(dir);
                if (all.isEmpty()) {
                    throw new CheckpointException("no checkpoint in " + dir + ": looked for "
                            + SafetensorsWriter.INDEX_FILE + ", " + SafetensorsWriter.SINGLE_FILE
                            + " and any *.safetensors file, found none");
                }
                for (Path p : all) {
                    opened.add(openReporting(p, progress));
                }
            }
            Map<String, TensorView> tensors = new LinkedHashMap<>();
            for (SafetensorsFile f : opened) {
                for (TensorView t : f.tensors().values()) {
                    TensorView previous = tensors.putIfAbsent(t.name(), t);
                    if (previous != null) {
                        throw new CheckpointException("tensor " + t.name() + " is in two files of " + dir + ": "
                                + previous.file().getFileName() + " and " + t.file().getFileName());
                    }
                }
            }
            return new Checkpoint(dir, List.copyOf(opened), Collections.unmodifiableMap(tensors), indexShards);
        } catch (RuntimeException e) {
            opened.forEach(SafetensorsFile::close);
            throw e;
        }
    }

    private static SafetensorsFile openReporting(Path file, Consumer<String> progress) {
        SafetensorsFile f = SafetensorsFile.open(file);
        progress.accept("opened " + file.getFileName() + ": " + SafetensorsWriter.humanBytes(f.sizeBytes()) + ", "
                + f.tensors().size() + " tensors");
        return f;
    }

    private static Map<String, String> readWeightMap(Path index) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readAllBytes(index));
        } catch (IOException e) {
            throw new CheckpointException(index + ": corrupt index: not valid JSON ("
                    + (e.getMessage() == null ? e : e.getMessage().lines().findFirst().orElse("")) + ")");
        }
        if (root == null || !root.isObject()) {
            throw new CheckpointException(index + ": corrupt index: expected a JSON object with a weight_map");
        }
        JsonNode weightMap = root.get("weight_map");
        if (weightMap == null || !weightMap.isObject()) {
            throw new CheckpointException(index + ": corrupt index: weight_map is " + weightMap
                    + ", expected an object mapping tensor names to shard file names");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : weightMap.properties()) {
            if (!e.getValue().isTextual()) {
                throw new CheckpointException(index + ": corrupt index: weight_map maps " + e.getKey() + " to "
                        + e.getValue() + ", expected a shard file name");
            }
            out.put(e.getKey(), e.getValue().textValue());
        }
        if (out.isEmpty()) {
            throw new CheckpointException(index + ": corrupt index: weight_map is empty");
        }
        return out;
    }

    private static Path shardPath(Path dir, Path index, String shard, String someTensor) {
        if (shard.isEmpty() || shard.contains("/") || shard.contains("\\") || shard.equals(".") || shard.equals("..")) {
            throw new CheckpointException(index + ": corrupt index: shard \"" + shard + "\" (for tensor " + someTensor
                    + ") is not a plain file name inside " + dir);
        }
        return dir.resolve(shard);
    }

    private static List<Path> listSafetensors(Path dir) {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.safetensors")) {
            for (Path p : ds) {
                if (Files.isRegularFile(p)) {
                    out.add(p);
                }
            }
        } catch (IOException e) {
            throw new CheckpointException(dir + ": cannot list: " + e, e);
        }
        out.sort(null);
        return out;
    }

    public Path directory() {
        return directory;
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** All tensor names, file by file in header order. */
    public Set<String> names() {
        return tensors.keySet();
    }

    public TensorView tensor(String name) {
        TensorView t = tensors.get(name);
        if (t == null) {
            String shard = indexShards.get(name);
            throw new CheckpointException("tensor " + name + " not found in checkpoint " + directory
                    + (shard != null ? " (the index maps it to " + shard + ")" : "")
                    + " (" + tensors.size() + " tensors in " + files.size() + " files)");
        }
        return t;
    }

    /** The tensor, after checking that its shape is {@code expectedShape}. */
    public TensorView tensor(String name, long... expectedShape) {
        TensorView t = tensor(name);
        long[] shape = t.shape();
        if (!Arrays.equals(shape, expectedShape)) {
            throw new CheckpointException("tensor " + name + " in " + t.file() + " has shape "
                    + TensorView.shapeString(shape) + ", expected " + TensorView.shapeString(expectedShape)
                    + " (from config.json)");
        }
        return t;
    }

    /** Bytes of tensor data over all files (the index's {@code total_size}). */
    public long totalBytes() {
        long sum = 0;
        for (TensorView t : tensors.values()) {
            sum += t.byteSize();
        }
        return sum;
    }

    /** Bytes of the named tensors' data. */
    public long bytesOf(Collection<String> names) {
        long sum = 0;
        for (String n : names) {
            sum += tensor(n).byteSize();
        }
        return sum;
    }

    /**
     * Reads the named tensors' data into physical memory (the page cache behind the mapping), in file order, reporting
     * progress about every GiB ({@code "prefaulting the weights: 3.0 / 15.8 GiB"}): a process reads the weights it
     * serves and no others (an expert shard its experts, a router with remote experts none of the routed ones).
     */
    public void prefault(Collection<String> names, Consumer<String> progress) {
        List<MemorySegment> data = new ArrayList<>();
        for (String n : names) {
            data.add(tensor(n).data());
        }
        data.sort(Comparator.comparingLong(MemorySegment::address));
        long all = data.stream().mapToLong(MemorySegment::byteSize).sum();
        // Twice: pages read once sit on the kernel's inactive list, the first evicted when another file's pages (an
        // earlier run's, already active) compete for memory; the second read marks them active.
        load(data, n -> { });
        long[] done = {0};
        load(data, n -> {
            long before = done[0];
            done[0] += n;
            if (done[0] / (1L << 30) != before / (1L << 30) || done[0] == all) {
                progress.accept(String.format(java.util.Locale.ROOT, "prefaulting the weights: %.1f / %.1f GiB",
                        done[0] / (double) (1L << 30), all / (double) (1L << 30)));
            }
        });
    }

    private static void load(List<MemorySegment> data, LongConsumer bytesDone) {
        long chunk = 256L << 20;
        for (MemorySegment d : data) {
            for (long off = 0; off < d.byteSize(); off += chunk) {
                long n = Math.min(chunk, d.byteSize() - off);
                d.asSlice(off, n).load();
                bytesDone.accept(n);
            }
        }
    }

    /** The files opened, in order. */
    public List<Path> files() {
        return files.stream().map(SafetensorsFile::path).toList();
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }

    @Override
    public String toString() {
        return "Checkpoint[" + directory + ", " + tensors.size() + " tensors in " + files.size() + " files]";
    }
}
