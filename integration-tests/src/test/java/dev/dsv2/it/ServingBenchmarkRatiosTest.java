package dev.dsv2.it;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ServingBenchmarkRatiosTest {
    private static ServingBenchmark.Level level(String mode, int round, int concurrency, double tokensPerSecond) {
        return new ServingBenchmark.Level(mode, concurrency, (int) (10 * tokensPerSecond), 10, Double.NaN, Double.NaN,
                Map.of(), Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, round);
    }

    @Test
    void eachRoundsDistributedRunIsComparedWithThatRoundsEmbeddedRun() {
        List<ServingBenchmark.Level> results = List.of(
                level("embedded", 1, 1, 20), level("embedded", 1, 32, 80),
                level("router+2-shards-bf16", 1, 1, 15), level("router+2-shards-bf16", 1, 32, 72),
                level("embedded", 2, 1, 25), level("embedded", 2, 32, 100),
                level("router+2-shards-bf16", 2, 1, 15), level("router+2-shards-bf16", 2, 32, 70),
                level("embedded", 3, 1, 10), level("router+2-shards-bf16", 3, 1, 8));
        Map<Integer, List<Double>> ratios = ServingBenchmark.ratios(results);
        assertEquals(List.of(0.75, 0.6, 0.8), ratios.get(1));
        assertEquals(List.of(0.9, 0.7), ratios.get(32));
        assertEquals(0.75, ServingBenchmark.median(ratios.get(1)), 1e-12);
        assertEquals(0.8, ServingBenchmark.median(ratios.get(32)), 1e-12);
    }

    @Test
    void withoutAnEmbeddedRunThereIsNoRatio() {
        assertEquals(Map.of(), ServingBenchmark.ratios(List.of(level("router+2-shards-f32", 1, 8, 30))));
    }
}
