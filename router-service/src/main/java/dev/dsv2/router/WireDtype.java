package dev.dsv2.router;

import dev.dsv2.proto.internal.v1.DType;

import java.util.Locale;

/**
 * The dtype of the hidden states the router sends to expert shards ({@code dsv2.router.wire-dtype}): BF16 halves the
 * bytes on the wire (the checkpoint's own precision; the shards' results differ from float32 inputs by bf16
 * rounding), F32 sends activations exactly (the distributed run then matches the embedded one to float32
 * reassociation of the partial sums). F32 is the default: a distributed run must give the embedded run's tokens,
 * and a bf16 rounding of every expert input can flip a near-tie where float32 reassociation will not.
 */
public enum WireDtype {
    BF16(DType.BF16, 2),
    F32(DType.F32, 4);

    private final DType proto;
    private final int bytes;

    WireDtype(DType proto, int bytes) {
        this.proto = proto;
        this.bytes = bytes;
    }

    public DType proto() {
        return proto;
    }

    public int bytes() {
        return bytes;
    }

    /** Parses {@code bf16} or {@code f32} (any case). */
    public static WireDtype parse(String value) {
        return switch (value == null ? "" : value.trim().toLowerCase(Locale.ROOT)) {
            case "bf16" -> BF16;
            case "f32" -> F32;
            default -> throw new IllegalArgumentException("dsv2.router.wire-dtype (DSV2_ROUTER_WIRE_DTYPE): '" + value
                    + "' is not a wire dtype (expected bf16 or f32)");
        };
    }
}
