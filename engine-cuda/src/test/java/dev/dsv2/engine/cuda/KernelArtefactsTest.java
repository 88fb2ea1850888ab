package dev.dsv2.engine.cuda;

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
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The committed kernel artefacts are those of the committed .cu sources: the MANIFEST's source hash equals the hash
 * of today's sources and build flags (computed as build.sh does), every artefact's bytes match the MANIFEST, every
 * module has its sm_80 and sm_90 cubin and compute_80 PTX, and every kernel the runner launches is in the PTX.
 * A failure here means: run {@code bash engine-cuda/src/main/cuda/build.sh} (needs nvcc) and commit the result.
 */
class KernelArtefactsTest {
    static final Path SOURCES = Path.of("src/main/cuda");
    static final Path ARTEFACTS = Path.of("src/main/resources").resolve(KernelBinary.DIR);

    private static String shellVar(String script, String name) {
        Matcher m = Pattern.compile("(?m)^" + name + "=\"([^\"]*)\"$").matcher(script);
        assertTrue(m.find(), "build.sh has no line " + name + "=\"...\"");
        return m.group(1);
    }

    static String sourcesHash() throws Exception {
        String script = Files.readString(SOURCES.resolve("build.sh"));
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        buf.writeBytes(("flags: " + shellVar(script, "NVCC_FLAGS") + "\narchs: " + shellVar(script, "ARCHS") + " "
                + shellVar(script, "PTX_ARCH") + "\n").getBytes(StandardCharsets.UTF_8));
        List<Path> files;
        try (Stream<Path> s = Files.list(SOURCES)) {
            files = new ArrayList<>(s.filter(p -> p.toString().endsWith(".cu") || p.toString().endsWith(".cuh"))
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
    void committedArtefactsAreBuiltFromTheCommittedSourcesAndFlags() throws Exception {
        assertEquals(List.of(sourcesHash()), manifest("SOURCES_SHA256"),
                "kernel artefacts are stale: run bash engine-cuda/src/main/cuda/build.sh and commit them");
    }

    @Test
    void everyArtefactMatchesItsManifestHash() throws Exception {
        List<String> artefacts = manifest("ARTEFACT");
        assertEquals(3 * KernelBinary.MODULES.length, artefacts.size(), artefacts.toString());
        for (String a : artefacts) {
            String[] nameHash = a.split(" ");
            byte[] bytes = Files.readAllBytes(ARTEFACTS.resolve(nameHash[0]));
            assertEquals(nameHash[1], HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)),
                    nameHash[0]);
        }
    }

    @Test
    void everyModuleHasCubinsForSm80AndSm90AndPtxForCompute80() {
        for (String m : KernelBinary.MODULES) {
            assertTrue(Files.isRegularFile(SOURCES.resolve(m + ".cu")), m + ".cu");
            for (String suffix : new String[]{".sm_80.cubin", ".sm_90.cubin", ".compute_80.ptx"}) {
                assertTrue(Files.isRegularFile(ARTEFACTS.resolve(m + suffix)), m + suffix);
            }
        }
    }

    @Test
    void theRunnerLaunchesExactlyTheKernelsOfTheModules() throws Exception {
        String runner = Files.readString(Path.of("src/main/java/dev/dsv2/engine/cuda/CudaKernels.java"))
                + Files.readString(Path.of("src/main/java/dev/dsv2/engine/cuda/ForwardKernels.java"));
        Matcher m = Pattern.compile("cx\\.launch\\(\"(\\w+)\", \"(\\w+)\"").matcher(runner);
        java.util.Set<String> launched = new java.util.TreeSet<>();
        while (m.find()) {
            launched.add(m.group(1) + "/" + m.group(2));
        }
        java.util.Set<String> entries = new java.util.TreeSet<>();
        Pattern entry = Pattern.compile("\\.entry (\\w+)\\(");
        for (String module : KernelBinary.MODULES) {
            Matcher e = entry.matcher(Files.readString(ARTEFACTS.resolve(module + ".compute_80.ptx")));
            while (e.find()) {
                entries.add(module + "/" + e.group(1));
            }
        }
        assertEquals(entries, launched, "kernels in the modules vs kernels CudaKernels and ForwardKernels launch");
        assertEquals(24, entries.size(), entries.toString());
    }
}
