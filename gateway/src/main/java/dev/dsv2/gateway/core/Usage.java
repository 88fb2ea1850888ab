package dev.dsv2.gateway.core;

/** Token counts of one sequence (or, summed, of one API request). */
public record Usage(int promptTokens, int completionTokens) {
    public static final Usage ZERO = new Usage(0, 0);

    public int totalTokens() {
        return promptTokens + completionTokens;
    }

    public Usage plus(Usage other) {
        return new Usage(promptTokens + other.promptTokens, completionTokens + other.completionTokens);
    }
}
