package dev.dsv2.engine.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.OptionalLong;

/**
 * Whether a model's mapped checkpoint is read into memory at load ({@code dsv2.prefault}, env
 * {@code DSV2_PREFAULT}): {@code auto} (the default) when the mapped files take at most {@link #AUTO_SHARE} of the
 * memory available (the kernel's {@code MemAvailable}, or the room under the container's cgroup memory limit where
 * that is smaller), {@code true} always, {@code false} never. Without it the first requests after a start fault the
 * weights in from disk, page by page, and run several times slower than the steady state (on lite-layers:27 from a
 * cold page cache: 4.9-7.9 tok/s against 11); a checkpoint larger than memory is never worth reading ahead, it would
 * only evict itself.
 */
public record Prefault(boolean enabled, String reason) {
    public static final String PROPERTY = "dsv2.prefault";
    /** The share of the available memory the mapped files may take for {@code auto} to read them ahead. */
    public static final double AUTO_SHARE = 0.8;

    /** The decision for {@code fileBytes} of mapped weights, from the property / environment and this machine. */
    public static Prefault decide(long fileBytes) {
        String v = System.getProperty(PROPERTY);
        if (v == null) {
            v = System.getenv("DSV2_PREFAULT");
        }
        return decide(v == null ? "auto" : v, fileBytes, available(memAvailable(Path.of("/proc/meminfo")),
                cgroupRoom(Path.of("/sys/fs/cgroup"))));
    }

    /** The smaller of the kernel's {@code MemAvailable} and the room left under this cgroup's memory limit. */
    static OptionalLong available(OptionalLong meminfo, OptionalLong cgroup) {
        if (meminfo.isEmpty()) {
            return cgroup;
        }
        return cgroup.isEmpty() ? meminfo : OptionalLong.of(Math.min(meminfo.getAsLong(), cgroup.getAsLong()));
    }

    /**
     * {@code memory.max - memory.current} of the cgroup v2 hierarchy at {@code dir} (a container's limit: inside a
     * pod {@code MemAvailable} is the node's); empty without a limit ({@code max}) or where it cannot be read.
     */
    static OptionalLong cgroupRoom(Path dir) {
        try {
            String max = Files.readString(dir.resolve("memory.max")).strip();
            if (max.equals("max")) {
                return OptionalLong.empty();
            }
            long current = Long.parseLong(Files.readString(dir.resolve("memory.current")).strip());
            return OptionalLong.of(Math.max(0, Long.parseLong(max) - current));
        } catch (IOException | RuntimeException e) {
            return OptionalLong.empty();
        }
    }

    /**
     * The decision for {@code setting} (auto, true, false; any case) and {@code available} bytes of memory.
     *
     * @throws IllegalArgumentException naming the setting and the accepted values
     */
    static Prefault decide(String setting, long fileBytes, OptionalLong available) {
        String gib = gib(fileBytes);
        return switch (setting.strip().toLowerCase(Locale.ROOT)) {
            case "true" -> new Prefault(true, PROPERTY + "=true");
            case "false" -> new Prefault(false, PROPERTY + "=false");
            case "auto" -> {
                if (available.isEmpty()) {
                    yield new Prefault(false, "available memory unknown (no MemAvailable in /proc/meminfo)");
                }
                long limit = (long) (AUTO_SHARE * available.getAsLong());
                yield fileBytes <= limit
                        ? new Prefault(true, gib + " of weights fit in " + gib(available.getAsLong()) + " available")
                        : new Prefault(false, gib + " of weights exceed " + (int) (AUTO_SHARE * 100) + "% of the "
                                + gib(available.getAsLong()) + " available: they stay on disk until used");
            }
            default -> throw new IllegalArgumentException(PROPERTY + " (DSV2_PREFAULT): unknown value '" + setting
                    + "' (expected auto, true or false)");
        };
    }

    /** {@code MemAvailable} of a {@code /proc/meminfo}-format file, in bytes; empty where it cannot be read. */
    static OptionalLong memAvailable(Path meminfo) {
        try {
            for (String line : Files.readAllLines(meminfo)) {
                if (line.startsWith("MemAvailable:")) {
                    String[] parts = line.substring("MemAvailable:".length()).strip().split("\\s+");
                    return OptionalLong.of(Long.parseLong(parts[0]) * 1024);
                }
            }
        } catch (IOException | RuntimeException e) {
            return OptionalLong.empty();
        }
        return OptionalLong.empty();
    }

    private static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
    }
}
