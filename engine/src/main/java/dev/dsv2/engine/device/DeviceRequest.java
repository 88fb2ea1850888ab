package dev.dsv2.engine.device;

import java.util.Locale;

/**
 * What the user asked for with {@code --device} (or {@code dsv2.device}): {@code auto}, {@code cpu}, {@code cuda}
 * (device 0) or {@code cuda:N}. Parsing is strict: anything else is rejected with a message that names the value and
 * the accepted forms, never mapped to a default.
 *
 * @param kind    which device family
 * @param ordinal the CUDA device index for {@link Kind#CUDA} (0 for a bare {@code cuda}), -1 otherwise
 */
public record DeviceRequest(Kind kind, int ordinal) {

    /** The accepted spellings, for help texts and errors. */
    public static final String VALID_FORMS = "auto, cpu, cuda or cuda:N (N >= 0)";

    public enum Kind { AUTO, CPU, CUDA }

    public static final DeviceRequest AUTO = new DeviceRequest(Kind.AUTO, -1);
    public static final DeviceRequest CPU = new DeviceRequest(Kind.CPU, -1);

    public DeviceRequest {
        if ((kind == Kind.CUDA) != (ordinal >= 0)) {
            throw new IllegalArgumentException("device " + kind + " with ordinal " + ordinal
                    + ": only cuda has an ordinal, and it must be >= 0");
        }
    }

    public static DeviceRequest cuda(int ordinal) {
        return new DeviceRequest(Kind.CUDA, ordinal);
    }

    /**
     * Parses a device value (case-insensitive, surrounding blanks ignored).
     *
     * @throws IllegalArgumentException naming the bad value and {@link #VALID_FORMS}
     */
    public static DeviceRequest parse(String value) {
        if (value == null) {
            throw new IllegalArgumentException("device is missing (expected " + VALID_FORMS + ")");
        }
        String v = value.strip().toLowerCase(Locale.ROOT);
        switch (v) {
            case "auto":
                return AUTO;
            case "cpu":
                return CPU;
            case "cuda":
                return cuda(0);
            default:
                break;
        }
        if (v.startsWith("cuda:")) {
            String n = v.substring("cuda:".length());
            if (!n.isEmpty() && n.length() <= 4 && n.chars().allMatch(ch -> ch >= '0' && ch <= '9')) {
                return cuda(Integer.parseInt(n));
            }
            throw new IllegalArgumentException("device '" + value + "': '" + n
                    + "' is not a CUDA device index (expected " + VALID_FORMS + ")");
        }
        throw new IllegalArgumentException("unknown device '" + value + "' (expected " + VALID_FORMS + ")");
    }

    @Override
    public String toString() {
        return switch (kind) {
            case AUTO -> "auto";
            case CPU -> "cpu";
            case CUDA -> "cuda:" + ordinal;
        };
    }
}
