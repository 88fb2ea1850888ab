package dev.dsv2.cli;

import dev.dsv2.engine.model.PlacementPlan;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code ./dsv2 placement}: from a router's metrics text to a placement file the shards can load. */
class PlacementCommandTest {

    @Test
    void theRoutersTokenCountsBecomeABalancedPlacementFile(@TempDir Path tmp) throws Exception {
        Path model = tmp.resolve("tiny");
        assertEquals(0, MakeModelAndGenerateTest.run("make-model", model.toString(), "--preset", "tiny").exit());
        StringBuilder stats = new StringBuilder("# TYPE dsv2_router_routed_tokens_total counter\n");
        for (int layer = 1; layer <= 2; layer++) {
            for (int e = 0; e < 16; e++) {
                long tokens = e < 4 ? 5000 : 100; // experts 0..3 hot: the contiguous ranges put them all on shard 0
                stats.append("dsv2_router_routed_tokens_total{expert=\"").append(e).append("\",layer=\"")
                        .append(layer).append("\",} ").append(tokens).append(".0\n");
            }
        }
        Path statsFile = Files.writeString(tmp.resolve("stats.txt"), stats);
        Path out = tmp.resolve("placement.json");
        MakeModelAndGenerateTest.Run r = MakeModelAndGenerateTest.run("placement", "--model", model.toString(),
                "--stats", statsFile.toString(), "--shards", "2", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("1.000        1.925"), "balanced 1.000 against contiguous 1.925:\n" + r.out());
        PlacementPlan plan = PlacementPlan.read(out, 3, 16);
        assertEquals(1.0, plan.imbalance(1), 1e-9);

        MakeModelAndGenerateTest.Run bad = MakeModelAndGenerateTest.run("placement", "--model", model.toString(),
                "--stats", model.resolve("config.json").toString(), "--shards", "2", "--out", out.toString());
        assertEquals(1, bad.exit());
        assertTrue(bad.err().contains("no dsv2_router_routed_tokens_total{layer,expert} series"), bad.err());
    }
}
