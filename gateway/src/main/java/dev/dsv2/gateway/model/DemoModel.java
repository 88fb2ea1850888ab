package dev.dsv2.gateway.model;

import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;
import dev.dsv2.engine.config.ModelConfig;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The model {@code ./dsv2 serve} runs when no model directory is given: a random checkpoint of the {@code tiny}
 * preset whose vocabulary is the real DeepSeek-V3 tokenizer's (shipped as a resource of this module, MIT-licensed),
 * so the embedded demo takes text and chat messages and streams text back, end to end. The weights are random:
 * the text is nonsense, every path through the system is real.
 *
 * <p>Generated once into {@code <cacheDir>/demo-tiny-<version>} (about 70 MB, a second or two): written into a
 * temporary sibling directory, then renamed, so concurrent starts and interrupted runs never see half a checkpoint.
 */
public final class DemoModel {
    public static final String PRESET = "tiny";
    public static final long SEED = 42;
    static final String RESOURCE_DIR = "/dev/dsv2/gateway/demo-tokenizer/";
    static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json", "LICENSE");
    /** Written last into a complete checkpoint. */
    static final String COMPLETE_MARKER = ".dsv2-demo-complete";

    private DemoModel() {
    }

    /** {@code <cacheDir>/demo-tiny-<version>}. */
    public static Path directory(Path cacheDir, String version) {
        return cacheDir.resolve("demo-" + PRESET + "-" + version.replaceAll("[^A-Za-z0-9._-]", "_"));
    }

    /** The demo checkpoint's directory, generated first if it is not there yet. */
    public static Path ensure(Path cacheDir, String version, Consumer<String> progress) {
        Path dir = directory(cacheDir, version);
        if (Files.isRegularFile(dir.resolve(COMPLETE_MARKER))) {
            progress.accept("demo model (random weights, DeepSeek-V3 tokenizer) at " + dir);
            return dir;
        }
        progress.accept("generating the demo model (preset " + PRESET + ", random weights, DeepSeek-V3 tokenizer) "
                + "into " + dir + " (once)");
        Path tmp = dir.resolveSibling(dir.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try {
            deleteAbandoned(dir);
            deleteRecursively(tmp);
            Files.createDirectories(tmp);
            writeTokenizer(tmp);
            RandomCheckpointWriter.TokenizerInfo tok = RandomCheckpointWriter.readTokenizerInfo(tmp);
            ModelConfig config = ModelPresets.withVocab(ModelPresets.preset(PRESET), tok.vocabSize(), tok.bosId(),
                    tok.eosId());
            RandomCheckpointWriter.write(config, tmp, SEED, progress);
            Files.writeString(tmp.resolve(COMPLETE_MARKER), "preset " + PRESET + ", seed " + SEED + "\n");
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException | DirectoryNotEmptyException | AtomicMoveNotSupportedException e) {
                if (!Files.isRegularFile(dir.resolve(COMPLETE_MARKER))) {
                    // A leftover without the marker (an older interrupted layout): replace it.
                    deleteRecursively(dir);
                    Files.move(tmp, dir);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot generate the demo model in " + dir + ": " + e, e);
        } finally {
            try {
                deleteRecursively(tmp);
            } catch (IOException ignored) {
                // best effort: a stale temporary directory is harmless
            }
        }
        return dir;
    }

    /** Writes the shipped tokenizer files into {@code dir}. */
    static void writeTokenizer(Path dir) throws IOException {
        for (String name : TOKENIZER_FILES) {
            try (InputStream in = DemoModel.class.getResourceAsStream(RESOURCE_DIR + name)) {
                if (in == null) {
                    throw new IOException("resource " + RESOURCE_DIR + name + " is missing from the gateway jar");
                }
                Files.copy(in, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    /** Removes temporary directories of earlier runs whose process is gone (killed mid-generation). */
    private static void deleteAbandoned(Path dir) throws IOException {
        Path parent = dir.toAbsolutePath().getParent();
        if (!Files.isDirectory(parent)) {
            return;
        }
        String prefix = dir.getFileName() + ".tmp-";
        try (Stream<Path> siblings = Files.list(parent)) {
            for (Path p : siblings.toList()) {
                String name = p.getFileName().toString();
                if (!name.startsWith(prefix)) {
                    continue;
                }
                try {
                    long pid = Long.parseLong(name.substring(prefix.length()));
                    if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                        continue;
                    }
                } catch (NumberFormatException notOurs) {
                    continue;
                }
                deleteRecursively(p);
            }
        }
    }

    private static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
