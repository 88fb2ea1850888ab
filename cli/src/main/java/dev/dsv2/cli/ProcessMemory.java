package dev.dsv2.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Resident memory of this process from {@code /proc/self/status} (Linux): the peak ({@code VmHWM}), and the current
 * split into anonymous memory (heap, caches, buffers) and mapped files (the checkpoint's touched pages). Elsewhere
 * the figures are -1.
 */
final class ProcessMemory {
    private static final Path STATUS = Path.of("/proc/self/status");

    private ProcessMemory() {
    }

    /** Restarts the peak from the current resident size ({@code echo 5 > /proc/self/clear_refs}); false if unsupported. */
    static boolean resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return false;
        }
    }

    static long peakRssBytes() {
        return field("VmHWM:");
    }

    static long rssAnonBytes() {
        return field("RssAnon:");
    }

    static long rssFileBytes() {
        return field("RssFile:");
    }

    private static long field(String name) {
        try {
            for (String line : Files.readAllLines(STATUS)) {
                if (line.startsWith(name)) {
                    String[] parts = line.substring(name.length()).trim().split("\\s+");
                    return Long.parseLong(parts[0]) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }
}
