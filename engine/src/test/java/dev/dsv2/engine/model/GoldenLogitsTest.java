package dev.dsv2.engine.model;

import dev.dsv2.engine.cache.CacheSequence;
import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.scalar.ScalarBackend;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.testsupport.TestCheckpoints;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pins the exact bits of the CPU backends' logits: a fixed scenario (two prompts prefilled together, a mixed step of
 * one sequence's prefill chunk beside the other two's decode rows, a second chunk, decode steps, and a decode step
 * through {@link DeepseekV2Model#forwardOverlapped}) in every attention mode, on {@code tiny}, {@code tiny-v2} and
 * {@code lite-layers:2}, and with int8 weights on {@code tiny}. Each forward's logits are recorded as a hash of
 * their raw float bits plus the top-5 ids and bits of every row, in {@code golden/forward-logits.txt}, generated
 * from the code before the backend seam refactoring. A refactoring of the model or the kernels that changes a single
 * bit fails here.
 *
 * <p>Vector results depend on the machine's vector width (lane sums), so their keys name it; a machine with a width
 * the file does not hold checks the scalar keys only. Regenerate with {@code -Ddsv2.golden.write=PATH}.
 */
class GoldenLogitsTest {
    private static final String RESOURCE = "/golden/forward-logits.txt";
    private static final int BLOCK = 4;

    @Test
    void cpuBackendsReproduceTheGoldenLogitBitsExactly() {
        Map<String, String> got = new LinkedHashMap<>();
        String vectorTag = "vector" + FloatVector.SPECIES_PREFERRED.vectorBitSize();
        try (VectorBackend vector = new VectorBackend(2); ScalarBackend scalar = new ScalarBackend()) {
            for (String preset : List.of("tiny", "tiny-v2", "lite-layers:2")) {
                record(got, preset, "bf16", vectorTag, vector, WeightFormat.BF16);
                if (!preset.startsWith("lite")) {
                    record(got, preset, "bf16", "scalar", scalar, WeightFormat.BF16);
                }
            }
            record(got, "tiny", "int8", vectorTag, vector, WeightFormat.INT8);
            record(got, "tiny", "int8", "scalar", scalar, WeightFormat.INT8);
        }
        String write = System.getProperty("dsv2.golden.write");
        if (write != null) {
            write(Path.of(write), got);
            return;
        }
        Map<String, String> golden = read();
        int compared = 0;
        for (Map.Entry<String, String> e : got.entrySet()) {
            String want = golden.get(e.getKey());
            if (want == null) {
                assertTrue(e.getKey().contains("vector"), "golden file lacks " + e.getKey());
                continue;
            }
            assertEquals(want, e.getValue(), e.getKey());
            compared++;
        }
        Assumptions.assumeTrue(golden.keySet().stream().anyMatch(k -> k.contains(vectorTag)),
                "no golden vector bits for " + vectorTag + "; only the scalar ones were compared (" + compared + ")");
    }

    private static void record(Map<String, String> out, String preset, String format, String backendTag, Backend be,
                               WeightFormat wf) {
        try (DeepseekV2Model m = DeepseekV2Model.load(TestCheckpoints.preset(preset, 7), be, wf, null)) {
            for (AttentionMode mode : AttentionMode.values()) {
                String key = preset + " " + format + " " + backendTag + " " + mode;
                scenario(m, mode, (step, logits, rows) -> record(out, key + " " + step, logits, rows,
                        m.config().vocabSize()));
            }
        }
    }

    private interface Sink {
        void accept(String step, float[] logits, int rows);
    }

    /** The fixed scenario: returns nothing, hands every forward's logits to {@code sink}. */
    private static void scenario(DeepseekV2Model m, AttentionMode mode, Sink sink) {
        int vocab = m.config().vocabSize();
        LatentKvCache cache = new LatentKvCache(m.config(), 64, BLOCK);
        CacheSequence a = cache.newSequence();
        CacheSequence b = cache.newSequence();
        CacheSequence c = cache.newSequence();
        int[] promptA = {5, 900, 33, 17, 250, 3, 999, 42, 7, 7, 512};
        int[] promptB = {0, 17, 250, 3, 64};
        int[] promptC = {800, 1, 2, 1000, 11, 12};
        Workspace ws = new Workspace(m.backend());
        // 1: B and C prefilled together (two segments), logits of both last rows
        reserve(cache, b, 5);
        reserve(cache, c, 6);
        float[] l = m.forward(batch(new Row[]{rows(b, promptB, 0), rows(c, promptC, 0)}), cache, mode, ws);
        sink.accept("prefill-bc", l, 2);
        int nextB = argmax(l, 0, vocab);
        int nextC = argmax(l, 1, vocab);
        // 2, 3: A's prompt in two chunks, each beside B's and C's decode rows
        int posB = 5;
        int posC = 6;
        int posA = 0;
        for (int[] chunk : new int[][]{{0, 7}, {7, 11}}) {
            reserve(cache, a, chunk[1]);
            reserve(cache, b, posB + 1);
            reserve(cache, c, posC + 1);
            int[] tokens = java.util.Arrays.copyOfRange(promptA, chunk[0], chunk[1]);
            l = m.forward(batch(new Row[]{rows(b, new int[]{nextB}, posB), rows(a, tokens, posA),
                    rows(c, new int[]{nextC}, posC)}), cache, mode, ws);
            sink.accept("mixed-" + chunk[0], l, 3);
            nextB = argmax(l, 0, vocab);
            nextC = argmax(l, 2, vocab);
            posA = chunk[1];
            posB++;
            posC++;
        }
        int nextA = argmax(l, 1, vocab);
        // 4..6: decode steps of all three
        for (int step = 0; step < 3; step++) {
            reserve(cache, a, posA + 1);
            reserve(cache, b, posB + 1);
            reserve(cache, c, posC + 1);
            l = m.forward(batch(new Row[]{rows(a, new int[]{nextA}, posA), rows(b, new int[]{nextB}, posB),
                    rows(c, new int[]{nextC}, posC)}), cache, mode, ws);
            sink.accept("decode-" + step, l, 3);
            nextA = argmax(l, 0, vocab);
            nextB = argmax(l, 1, vocab);
            nextC = argmax(l, 2, vocab);
            posA++;
            posB++;
            posC++;
        }
        // 7: one decode step as two micro-batches (A and B | C)
        reserve(cache, a, posA + 1);
        reserve(cache, b, posB + 1);
        reserve(cache, c, posC + 1);
        float[][] both = m.forwardOverlapped(batch(new Row[]{rows(a, new int[]{nextA}, posA),
                        rows(b, new int[]{nextB}, posB)}), ws,
                batch(new Row[]{rows(c, new int[]{nextC}, posC)}), new Workspace(m.backend()), cache, mode);
        sink.accept("overlapped-ab", both[0], 2);
        sink.accept("overlapped-c", both[1], 1);
    }

    private record Row(CacheSequence seq, int[] tokens, int startPos) {
    }

    private static Row rows(CacheSequence seq, int[] tokens, int startPos) {
        return new Row(seq, tokens, startPos);
    }

    /** The rows of every part in order; logits of each part's last row. */
    private static ForwardBatch batch(Row[] parts) {
        int n = 0;
        for (Row p : parts) {
            n += p.tokens().length;
        }
        int[] tokens = new int[n];
        int[] pos = new int[n];
        CacheSequence[] seqs = new CacheSequence[n];
        int[] logitRows = new int[parts.length];
        int r = 0;
        for (int i = 0; i < parts.length; i++) {
            Row p = parts[i];
            for (int j = 0; j < p.tokens().length; j++, r++) {
                tokens[r] = p.tokens()[j];
                pos[r] = p.startPos() + j;
                seqs[r] = p.seq();
            }
            logitRows[i] = r - 1;
        }
        return ForwardBatch.of(tokens, pos, seqs, logitRows);
    }

    private static void reserve(LatentKvCache cache, CacheSequence seq, int tokens) {
        assertTrue(cache.reserve(seq, tokens), "cache room for " + tokens);
    }

    private static int argmax(float[] l, int row, int vocab) {
        int best = 0;
        for (int i = 1; i < vocab; i++) {
            if (l[row * vocab + i] > l[row * vocab + best]) {
                best = i;
            }
        }
        return best;
    }

    /** One line per forward: a hash of every logit's raw bits; one line per row: its top-5 ids and bits. */
    private static void record(Map<String, String> out, String key, float[] logits, int rows, int vocab) {
        long h = 1125899906842597L;
        for (int i = 0; i < rows * vocab; i++) {
            h = 31 * h + Float.floatToRawIntBits(logits[i]);
        }
        out.put(key + " hash", Long.toHexString(h));
        for (int r = 0; r < rows; r++) {
            StringBuilder sb = new StringBuilder();
            boolean[] taken = new boolean[vocab];
            for (int k = 0; k < 5; k++) {
                int best = -1;
                for (int i = 0; i < vocab; i++) {
                    if (!taken[i] && (best < 0 || logits[r * vocab + i] > logits[r * vocab + best])) {
                        best = i;
                    }
                }
                taken[best] = true;
                sb.append(k == 0 ? "" : " ").append(best).append(':')
                        .append(Integer.toHexString(Float.floatToRawIntBits(logits[r * vocab + best])));
            }
            out.put(key + " row" + r, sb.toString());
        }
    }

    private static Map<String, String> read() {
        Map<String, String> golden = new LinkedHashMap<>();
        try (InputStream in = GoldenLogitsTest.class.getResourceAsStream(RESOURCE)) {
            assertTrue(in != null, RESOURCE + " is missing");
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                int eq = line.indexOf(" = ");
                golden.put(line.substring(0, eq), line.substring(eq + 3));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return golden;
    }

    private static void write(Path file, Map<String, String> got) {
        List<String> lines = new ArrayList<>();
        lines.add("# GoldenLogitsTest: raw float bits of the CPU backends' logits (hash per forward, top-5 per row)");
        got.forEach((k, v) -> lines.add(k + " = " + v));
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Files.write(file, lines, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
