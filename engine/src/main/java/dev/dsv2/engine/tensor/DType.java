package dev.dsv2.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The element types the engine reads from and writes to safetensors files. DeepSeek-V2 checkpoints
 * ship as {@link #BF16}; {@link #F16} and {@link #F32} are accepted so that converted or test files load too;
 * {@link #I8} holds the codes of an int8-quantized checkpoint ({@code ./dsv2 quantize}).
 * Every value is stored little-endian, as the safetensors format prescribes.
 */
public enum DType {
    /** bfloat16: the top 16 bits of an IEEE float32 (8 exponent bits, 7 mantissa bits). */
    BF16(2, "BF16"),
    /** IEEE 754 binary16 (5 exponent bits, 10 mantissa bits). */
    F16(2, "F16"),
    /** IEEE 754 binary32. */
    F32(4, "F32"),
    /**
     * Signed 8-bit integers: the codes of an int8-quantized weight ({@code docs/int8.md}), meaningful only with the
     * weight's companion scale tensor. {@link #read} returns the code itself, unscaled.
     */
    I8(1, "I8");

    private final int bytes;
    private final String safetensorsName;

    DType(int bytes, String safetensorsName) {
        this.bytes = bytes;
        this.safetensorsName = safetensorsName;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    /** The {@code dtype} string of a safetensors header entry, e.g. {@code "BF16"}. */
    public String safetensorsName() {
        return safetensorsName;
    }

    /**
     * The dtype named by a safetensors header entry.
     *
     * @throws IllegalArgumentException naming the dtype and the supported ones when the engine cannot read it
     *                                  (e.g. {@code "I64"}, {@code "F8_E4M3"})
     */
    public static DType fromSafetensors(String name) {
        for (DType t : values()) {
            if (t.safetensorsName.equals(name)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unsupported dtype \"" + name + "\" (supported: " + supportedNames() + ")");
    }

    /**
     * Element {@code index} (counted in elements) of {@code seg}, a little-endian safetensors payload of this dtype,
     * widened to float32. The one scalar widening of stored values; kernels use vector loads on the hot paths.
     */
    public float read(MemorySegment seg, long index) {
        return switch (this) {
            case BF16 -> Bf16.toFloat(seg.get(TensorView.LE_SHORT, index * 2));
            case F16 -> Float.float16ToFloat(seg.get(TensorView.LE_SHORT, index * 2));
            case F32 -> seg.get(TensorView.LE_FLOAT, index * 4);
            case I8 -> seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, index);
        };
    }

    /** The supported safetensors names, comma-separated, for error messages. */
    public static String supportedNames() {
        return Arrays.stream(values()).map(DType::safetensorsName).collect(Collectors.joining(", "));
    }
}
