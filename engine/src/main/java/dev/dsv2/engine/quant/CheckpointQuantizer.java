package dev.dsv2.engine.quant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.cpu.Int8Quantizer;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.safetensors.Checkpoint;
import dev.dsv2.engine.safetensors.CheckpointException;
import dev.dsv2.engine.safetensors.SafetensorsWriter;
import dev.dsv2.engine.tensor.DType;
import dev.dsv2.engine.tensor.TensorView;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * {@code ./dsv2 quantize IN OUT}: writes the int8 checkpoint of {@link Int8Checkpoint} from a bf16 (or f16/f32) one.
 * Every tensor of IN is written to OUT in order, the {@link Int8Checkpoint#quantized} ones as codes + scales made by
 * {@link Int8Quantizer} (the same bytes that load-time quantization makes), the rest copied as stored; config.json
 * gets the {@code quantization_config} marker; every other file of IN (tokenizer, generation config) is copied.
 */
public final class CheckpointQuantizer {
    /** Shard size of the written checkpoint (as {@code make-model} writes). */
    public static final long MAX_SHARD_BYTES = 2L << 30;
    private static final ObjectMapper JSON = new ObjectMapper();

    private CheckpointQuantizer() {
    }

    /**
     * Quantizes the checkpoint in {@code in} into {@code out} (created; must not be {@code in}), rows in parallel on
     * {@code be}. Returns the bytes of tensor data written.
     *
     * @throws IllegalArgumentException when {@code in} is already int8-quantized, or {@code out} is {@code in}
     */
    public static long quantize(Path in, Path out, Backend be, Consumer<String> progress) {
        if (in.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("quantize: output directory " + out + " is the input directory");
        }
        ModelConfig.load(in);
        if (Int8Checkpoint.isInt8(in)) {
            throw new IllegalArgumentException(in + " is already an int8 checkpoint (config.json has "
                    + Int8Checkpoint.CONFIG_KEY + ")");
        }
        try (Checkpoint ckpt = Checkpoint.open(in, progress)) {
            List<SafetensorsWriter.Entry> entries = new ArrayList<>();
            Map<String, MemorySegment> pendingScales = new ConcurrentHashMap<>();
            int quantized = 0;
            for (String name : ckpt.names()) {
                TensorView t = ckpt.tensor(name);
                if (Int8Checkpoint.quantized(name) && t.rank() == 2 && t.dtype() != DType.I8) {
                    Weight w = Weight.of(t);
                    String sName = Int8Checkpoint.scaleName(name);
                    if (ckpt.contains(sName)) {
                        throw new CheckpointException(in + ": tensor " + sName + " already exists, cannot add the"
                                + " scales of " + name);
                    }
                    long[] scaleShape = {w.rows(), w.cols() / Weight.INT8_BLOCK};
                    if (w.cols() % Weight.INT8_BLOCK != 0) {
                        throw new CheckpointException("tensor " + name + " in " + t.file() + " has shape "
                                + t.shapeString() + ": int8 needs a column count that is a multiple of "
                                + Weight.INT8_BLOCK);
                    }
                    entries.add(new SafetensorsWriter.Entry(name, DType.I8, t.shape(), seg ->
                            pendingScales.put(name, quantizeWithScratch(w, seg, null, be))));
                    entries.add(new SafetensorsWriter.Entry(sName, DType.BF16, scaleShape, seg -> {
                        MemorySegment s = pendingScales.remove(name);
                        if (s == null) {
                            s = quantizeWithScratch(w, null, seg, be);
                        }
                        MemorySegment.copy(s, 0, seg, 0, seg.byteSize());
                    }));
                    quantized++;
                } else {
                    entries.add(new SafetensorsWriter.Entry(name, t.dtype(), t.shape(),
                            seg -> MemorySegment.copy(t.data(), 0, seg, 0, seg.byteSize())));
                }
            }
            progress.accept("quantizing " + quantized + " of " + ckpt.names().size() + " tensors to int8");
            Files.createDirectories(out);
            SafetensorsWriter.writeSharded(out, entries, MAX_SHARD_BYTES, progress);
            writeConfig(in, out);
            copyOtherFiles(in, out);
            long bytes = 0;
            for (SafetensorsWriter.Entry e : entries) {
                bytes += e.byteSize();
            }
            return bytes;
        } catch (IOException e) {
            throw new CheckpointException(out + ": cannot write: " + e, e);
        }
    }

    /** Quantizes {@code w} with its codes into {@code codes} or scratch; returns the scales (into {@code scales} or a new segment). */
    private static MemorySegment quantizeWithScratch(Weight w, MemorySegment codes, MemorySegment scales, Backend be) {
        Arena arena = Arena.ofAuto();
        MemorySegment c = codes != null ? codes : arena.allocate((long) w.rows() * w.cols());
        MemorySegment s = scales != null ? scales : arena.allocate(2L * w.rows() * (w.cols() / Weight.INT8_BLOCK));
        Int8Quantizer.quantizeInto(w, c, s, be);
        return s;
    }

    private static void writeConfig(Path in, Path out) throws IOException {
        JsonNode root = JSON.readTree(Files.readString(in.resolve(ModelConfig.FILE_NAME)));
        ObjectNode o = (ObjectNode) root;
        o.set(Int8Checkpoint.CONFIG_KEY, Int8Checkpoint.marker());
        Files.writeString(out.resolve(ModelConfig.FILE_NAME),
                JSON.writerWithDefaultPrettyPrinter().writeValueAsString(o) + "\n");
    }

    private static void copyOtherFiles(Path in, Path out) throws IOException {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(in)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (Files.isRegularFile(p) && !n.endsWith(".safetensors") && !n.equals(SafetensorsWriter.INDEX_FILE)
                        && !n.equals(ModelConfig.FILE_NAME)) {
                    Files.copy(p, out.resolve(n), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }
}
