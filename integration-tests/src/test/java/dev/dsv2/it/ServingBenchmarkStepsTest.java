package dev.dsv2.it;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** bench-serving's step columns ({@code step_ms_mean}, {@code step_wall_share}) from two scrapes of the scheduler. */
class ServingBenchmarkStepsTest {
    /** A scrape as Micrometer writes a timer, with both the gateway's and the router's step timers present. */
    private static Map<String, Double> scrape(double gatewaySum, long gatewayCount, double routerSum,
                                              long routerCount) {
        return PrometheusText.sumsByName("""
                # TYPE dsv2_step_seconds summary
                dsv2_step_seconds_count{batch="decode"} %d
                dsv2_step_seconds_sum{batch="decode"} %s
                dsv2_step_seconds_max{batch="decode"} 0.5
                # TYPE dsv2_router_step_seconds summary
                dsv2_router_step_seconds_count %d
                dsv2_router_step_seconds_sum %s
                """.formatted(gatewayCount, gatewaySum, routerCount, routerSum));
    }

    /** Steps between the two scrapes: (mean ms, seconds) must be the given ones. */
    private static void assertSteps(Map<String, Double> before, Map<String, Double> after, boolean distributed,
                                    double meanMillis, double seconds) {
        ServingBenchmark.Steps s = ServingBenchmark.Steps.between(before, after, distributed);
        assertEquals(meanMillis, s.meanMillis(), 1e-9, "mean step ms");
        assertEquals(seconds, s.seconds(), 1e-9, "steps' seconds");
    }

    @Test
    void embeddedLevelsReadTheGatewaysStepTimerBetweenTheScrapes() {
        // 6 s over 60 gateway steps; the router's timer moved too and must not be read
        assertSteps(scrape(10.0, 100, 99.0, 7), scrape(16.0, 160, 500.0, 9), false, 100.0, 6.0);
    }

    @Test
    void distributedLevelsReadTheRoutersStepTimer() {
        // 3 s over 60 router steps
        assertSteps(scrape(10.0, 100, 2.0, 40), scrape(16.0, 160, 5.0, 100), true, 50.0, 3.0);
    }

    @Test
    void aLevelWithoutStepsHasNoMeanRatherThanZero() {
        ServingBenchmark.Steps s = ServingBenchmark.Steps.between(scrape(1.0, 10, 1.0, 10),
                scrape(1.0, 10, 1.0, 10), false);
        assertTrue(Double.isNaN(s.meanMillis()), "0 / 0 steps must read as no figure: " + s);
        assertEquals(0.0, s.seconds());
    }
}
