package dev.dsv2.engine.serve;

import java.util.Locale;

/**
 * Where the model runs ({@code dsv2.device}, {@code --device}): {@code auto} (a GPU when one is usable, else the
 * CPU), {@code cpu}, {@code cuda} (the first GPU) or {@code cuda:N}. This is only the validated request; choosing
 * and opening the device is the kernel backend's business.
 *
 * @param kind  auto, cpu or cuda
 * @param index the GPU ordinal for {@link Kind#CUDA} (0 for plain {@code cuda}); 0 otherwise
 */
public record DeviceSpec(Kind kind, int index) {
    public static final DeviceSpec AUTO = new DeviceSpec(Kind.AUTO, 0);
    public static final DeviceSpec CPU = new DeviceSpec(Kind.CPU, 0);

    public enum Kind { AUTO, CPU, CUDA }

    public DeviceSpec {
        if (kind == null) {
            throw new IllegalArgumentException("device kind is null");
        }
        if (index < 0 || (kind != Kind.CUDA && index != 0)) {
            throw new IllegalArgumentException("device index " + index + " is only valid as cuda:N with N >= 0");
        }
    }

    /**
     * Parses {@code auto}, {@code cpu}, {@code cuda} or {@code cuda:N} (case-insensitive, blank = auto).
     *
     * @throws IllegalArgumentException naming the value and the accepted forms
     */
    public static DeviceSpec parse(String value) {
        String v = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
        switch (v) {
            case "", "auto" -> {
                return AUTO;
            }
            case "cpu" -> {
                return CPU;
            }
            case "cuda" -> {
                return new DeviceSpec(Kind.CUDA, 0);
            }
            default -> {
                if (v.startsWith("cuda:") && v.length() > 5 && v.length() <= 8 && v.substring(5).chars()
                        .allMatch(Character::isDigit)) {
                    return new DeviceSpec(Kind.CUDA, Integer.parseInt(v.substring(5)));
                }
                throw new IllegalArgumentException("'" + value + "' is not a device (expected auto, cpu, cuda or"
                        + " cuda:N with N a GPU ordinal >= 0)");
            }
        }
    }

    /** The flag's spelling: auto, cpu, cuda:N. */
    @Override
    public String toString() {
        return kind == Kind.CUDA ? "cuda:" + index : kind.name().toLowerCase(Locale.ROOT);
    }
}
