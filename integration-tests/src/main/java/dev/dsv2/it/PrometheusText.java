package dev.dsv2.it;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The samples of a Prometheus text exposition ({@code /q/metrics}), as the benchmark and load-test reports read them. */
final class PrometheusText {
    private PrometheusText() {
    }

    /**
     * One sample line: {@code name{labels} value}.
     *
     * @param labels what stands between the braces, empty without labels
     */
    record Sample(String name, String labels, double value) {
    }

    /** Every sample of {@code text}; comments, blank lines and lines without a numeric value are skipped. */
    static List<Sample> samples(String text) {
        List<Sample> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.startsWith("#") || line.isBlank()) {
                continue;
            }
            int brace = line.indexOf('{');
            int space = line.lastIndexOf(' ');
            if (space < 0) {
                continue;
            }
            String name = line.substring(0, brace >= 0 ? brace : line.indexOf(' '));
            String labels = brace >= 0 ? line.substring(brace + 1, line.lastIndexOf('}')) : "";
            try {
                out.add(new Sample(name, labels, Double.parseDouble(line.substring(space + 1))));
            } catch (NumberFormatException e) {
                // not a plain sample
            }
        }
        return out;
    }

    /** Each metric's samples summed over their labels, by name. */
    static Map<String, Double> sumsByName(String text) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (Sample s : samples(text)) {
            out.merge(s.name(), s.value(), Double::sum);
        }
        return out;
    }
}
