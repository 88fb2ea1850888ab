package dev.dsv2.engine.kernel.cpu;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The committed native library is the one of the committed C sources: the MANIFEST's source hash equals the hash of
 * today's sources and gcc flags (computed as {@code build.sh} does), the library's bytes match the MANIFEST, and the
 * flags name the instruction sets (never {@code -march=native}, which would tie the library to the build machine).
 * A failure here means: run {@code bash engine/src/main/c/build.sh} (needs gcc) and commit the result.
 */
class NativeArtefactsTest {
    static final Path SOURCES = Path.of("src/main/c");
    static final Path ARTEFACTS = Path.of("src/main/resources").resolve(NativeInt8.RESOURCE.substring(1)).getParent();

    private static String cflags() throws Exception {
        Matcher m = Pattern.compile("(?m)^CFLAGS=\"([^\"]*)\"$").matcher(Files.readString(SOURCES.resolve("build.sh")));
        assertTrue(m.find(), "build.sh has no line CFLAGS=\"...\"");
        return m.group(1);
    }

    static String sourcesHash() throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        buf.writeBytes(("flags: " + cflags() + "\n").getBytes(StandardCharsets.UTF_8));
        List<Path> files;
        try (Stream<Path> s = Files.list(SOURCES)) {
            files = new ArrayList<>(s.filter(p -> p.toString().endsWith(".c"))
                    .sorted((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString())).toList());
        }
        for (Path f : files) {
            byte[] bytes = Files.readAllBytes(f);
            buf.writeBytes(("file: " + f.getFileName() + " " + bytes.length + "\n").getBytes(StandardCharsets.UTF_8));
            buf.writeBytes(bytes);
        }
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(buf.toByteArray()));
    }

    private static List<String> manifest(String key) throws Exception {
        List<String> values = new ArrayList<>();
        for (String line : Files.readAllLines(ARTEFACTS.resolve("MANIFEST"))) {
            if (line.startsWith(key + "=")) {
                values.add(line.substring(key.length() + 1));
            }
        }
        return values;
    }

    @Test
    void committedLibraryIsBuiltFromTheCommittedSourcesAndFlags() throws Exception {
        assertEquals(List.of(sourcesHash()), manifest("SOURCES_SHA256"),
                "libdsv2cpu.so is stale: run bash engine/src/main/c/build.sh and commit it");
    }

    @Test
    void libraryMatchesItsManifestHash() throws Exception {
        List<String> artefacts = manifest("ARTEFACT");
        assertEquals(1, artefacts.size(), artefacts.toString());
        String[] nameHash = artefacts.get(0).split(" ");
        assertEquals("libdsv2cpu.so", nameHash[0]);
        byte[] bytes = Files.readAllBytes(ARTEFACTS.resolve(nameHash[0]));
        assertEquals(nameHash[1], HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)),
                "libdsv2cpu.so differs from its MANIFEST hash");
    }

    @Test
    void flagsNameTheInstructionSetsNotTheBuildMachine() throws Exception {
        String flags = cflags();
        assertFalse(flags.contains("-march=native"), flags);
        for (String f : List.of("-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-fPIC", "-shared")) {
            assertTrue(List.of(flags.split(" ")).contains(f), flags + " lacks " + f);
        }
    }
}
