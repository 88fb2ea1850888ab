package dev.dsv2.it;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The benchmark reports read Prometheus text the way Micrometer writes it. */
class PrometheusTextTest {
    private static final String TEXT = """
            # HELP dsv2_expert_tokens_total Rows computed
            # TYPE dsv2_expert_tokens_total counter
            dsv2_expert_tokens_total{expert="3",layer="1"} 4.0
            dsv2_expert_tokens_total{expert="5",layer="2"} 6.0

            dsv2_kv_blocks_used 0.0
            dsv2_router_expert_call_phase_seconds_sum{phase="send",quantile="x"} 1.5
            weird_line_without_value NaN_or_text
            """;

    @Test
    void samplesCarryNameLabelsAndValueAndSkipCommentsBlanksAndNonNumbers() {
        List<PrometheusText.Sample> s = PrometheusText.samples(TEXT);
        assertEquals(4, s.size(), s.toString());
        assertEquals(new PrometheusText.Sample("dsv2_expert_tokens_total", "expert=\"3\",layer=\"1\"", 4.0), s.get(0));
        assertEquals(new PrometheusText.Sample("dsv2_kv_blocks_used", "", 0.0), s.get(2));
    }

    @Test
    void sumsByNameAddUpEveryLabelSet() {
        Map<String, Double> sums = PrometheusText.sumsByName(TEXT);
        assertEquals(10.0, sums.get("dsv2_expert_tokens_total"));
        assertEquals(0.0, sums.get("dsv2_kv_blocks_used"));
        assertEquals(1.5, sums.get("dsv2_router_expert_call_phase_seconds_sum"));
    }
}
