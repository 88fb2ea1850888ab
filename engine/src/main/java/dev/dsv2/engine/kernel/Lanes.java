package dev.dsv2.engine.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * The vector shapes of the CPU kernels (the machine's widest float species, e.g. 16 lanes with AVX-512) and the
 * register-level helpers they share: bf16 widening straight from the mapped checkpoint, vector exp and SiLU.
 */
final class Lanes {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    /** Float lanes per vector. */
    static final int L = F.length();
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private Lanes() {
    }

    /** {@link #L} bf16 values at {@code byteOffset} of {@code seg}, widened to float32 (a shift by 16 in registers). */
    static FloatVector bf16(MemorySegment seg, long byteOffset) {
        return ((IntVector) ShortVector.fromMemorySegment(S, seg, byteOffset, LE)
                .convertShape(VectorOperators.S2I, I, 0))
                .lanewise(VectorOperators.LSHL, 16)
                .reinterpretAsFloats();
    }

    /** {@code v / (1 + exp(-v))} lane-wise. */
    static FloatVector silu(FloatVector v) {
        return v.div(v.neg().lanewise(VectorOperators.EXP).add(1f));
    }

    static float silu(float v) {
        return (float) (v / (1.0 + Math.exp(-v)));
    }

    /** Rounds {@code n} up to a multiple of {@code m}. */
    static int roundUp(int n, int m) {
        return (n + m - 1) / m * m;
    }
}
