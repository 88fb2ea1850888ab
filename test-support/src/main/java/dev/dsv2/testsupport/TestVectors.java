package dev.dsv2.testsupport;

import java.util.Random;

/** Reproducible activations for tests: hidden-state rows drawn from a standard normal distribution. */
public final class TestVectors {
    private TestVectors() {
    }

    /** {@code length} values from N(0, 1), the same for the same seed. */
    public static float[] gaussian(int length, long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[length];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }
}
