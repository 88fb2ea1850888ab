package dev.dsv2.engine.kernel.cpu;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The committed native library is the one of the committed C sources: the MANIFEST's source hash equals the hash of
 * today's sources and gcc flags (which {@code build.sh --hash} prints), the library's bytes match the MANIFEST, and the
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

    /** The hash of today's sources and flags, as build.sh computes it ({@code build.sh --hash}: no gcc needed). */
    static String sourcesHash() throws Exception {
        Process p = new ProcessBuilder("bash", SOURCES.resolve("build.sh").toString(), "--hash")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(0, p.waitFor(), "build.sh --hash failed: " + out);
        assertTrue(out.matches("[0-9a-f]{64}"), "build.sh --hash printed " + out);
        return out;
    }

    private static List<String> manifest(String key) throws Exception {
        String prefix = key + "=";
        return Files.readAllLines(ARTEFACTS.resolve("MANIFEST")).stream().filter(l -> l.startsWith(prefix))
                .map(l -> l.substring(prefix.length())).toList();
    }

    @Test
    void committedLibraryIsTheBuildOfTheCommittedSourcesAndFlags() throws Exception {
        assertEquals(List.of(sourcesHash()), manifest("SOURCES_SHA256"),
                "libdsv2cpu.so is stale: run bash engine/src/main/c/build.sh and commit it");
        byte[] lib = Files.readAllBytes(ARTEFACTS.resolve("libdsv2cpu.so"));
        String digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(lib));
        assertEquals(List.of("libdsv2cpu.so " + digest), manifest("ARTEFACT"),
                "libdsv2cpu.so differs from the library its MANIFEST names");
    }

    @Test
    void flagsNameTheInstructionSetsNotTheBuildMachine() throws Exception {
        String flags = cflags();
        assertFalse(flags.contains("-march=native"), flags);
        for (String f : List.of("-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx512bf16", "-fPIC", "-shared")) {
            assertTrue(List.of(flags.split(" ")).contains(f), flags + " lacks " + f);
        }
    }
}
