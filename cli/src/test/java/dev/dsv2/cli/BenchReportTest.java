package dev.dsv2.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bench report's JSON carries exactly the DESIGN.md keys, with ratios computed from the same run's roofline. */
class BenchReportTest {

    private static BenchReport report() {
        BenchReport r = new BenchReport("lite-layers:4", "vector(512-bit, 2 threads)", 2, "int8");
        Map<String, Double> phases = Map.of("attention", 1.0);
        r.prefill(new BenchReport.Prefill(512, 2.0, phases), 100e9);
        r.decode(new BenchReport.Decode(1, 40, 0.025, 1.1, 40e9, 6.0, 2048, phases));
        r.decode(new BenchReport.Decode(16, 10, 0.200, 2.1, 15e9, 50.5, 4096, phases));
        r.memory(5000L << 20, 400L << 20, 4600L << 20);
        r.roofline(50e9, 400e9);
        return r;
    }

    @Test
    void jsonHasTheContractKeysAndRatiosOfTheSameRun() throws Exception {
        JsonNode j = new ObjectMapper().readTree(report().toJson());
        List<String> keys = new ArrayList<>();
        j.fieldNames().forEachRemaining(keys::add);
        assertTrue(keys.containsAll(List.of("memory_bandwidth_gbs", "decode", "decode_bandwidth_ratio", "prefill",
                "peak_fma_gflops", "prefill_compute_ratio", "peak_rss_mb")), keys.toString());
        assertEquals(50.0, j.get("memory_bandwidth_gbs").asDouble());
        assertEquals(400.0, j.get("peak_fma_gflops").asDouble());
        JsonNode d1 = j.get("decode").get(0);
        List<String> decodeKeys = new ArrayList<>();
        d1.fieldNames().forEachRemaining(decodeKeys::add);
        assertEquals(List.of("batch", "tokens_per_s", "weight_gbs", "weights"), decodeKeys);
        assertEquals("int8", d1.get("weights").asText());
        assertEquals(40.0, d1.get("tokens_per_s").asDouble(), "batch / median step time");
        assertEquals(80.0, j.get("decode").get(1).get("tokens_per_s").asDouble());
        assertEquals(0.8, j.get("decode_bandwidth_ratio").asDouble(), "batch-1 weight GB/s over bandwidth");
        assertEquals(List.of("tokens", "tokens_per_s", "gflops", "weights"), fields(j.get("prefill")));
        assertEquals("int8", j.get("prefill").get("weights").asText());
        assertEquals("int8", j.get("weights").asText());
        assertEquals(256.0, j.get("prefill").get("tokens_per_s").asDouble());
        assertEquals(0.25, j.get("prefill_compute_ratio").asDouble());
        assertEquals(5000.0, j.get("peak_rss_mb").asDouble());
    }

    @Test
    void tableNamesEveryFigure() {
        String t = report().toTable();
        for (String s : List.of("memory read bandwidth", "50.0 GB/s", "peak FMA", "400.0 GFLOP/s", "prefill, 512 tokens",
                "decode bandwidth ratio (batch 1)   0.800", "peak RSS 5000 MB", "attention", "int8 weights")) {
            assertTrue(t.contains(s), "table lacks \"" + s + "\":\n" + t);
        }
    }

    private static List<String> fields(JsonNode n) {
        List<String> l = new ArrayList<>();
        n.fieldNames().forEachRemaining(l::add);
        return l;
    }
}
