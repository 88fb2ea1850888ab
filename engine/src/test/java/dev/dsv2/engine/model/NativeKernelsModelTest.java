package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.CpuKernels;
import dev.dsv2.engine.kernel.cpu.NativeInt8;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.quant.Int8Agreement;
import dev.dsv2.testsupport.TestCheckpoints;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The model end to end with {@code dsv2.cpu-kernels=native} against the Java kernels on the same weights (the
 * agreement figures of {@link Int8Agreement}, the machinery of {@code ./dsv2 int8-error}). Bounds, with margin over
 * the figures measured here:
 * <ul>
 *   <li>int8 weights: the only difference is the native kernel's activations, rounded to int8 per block of 32 in
 *       every int8 product (decode, and since the kernel takes any batch also the teacher-forced prefill's
 *       attention, dense MLP and expert groups of any size). With only the matrix-vector products native
 *       (docs/int8.md): tiny 24/24 free-run and teacher-forced steps, max |delta top-5 logprob| 0.004; lite-layers:2
 *       4/24 free-run (its random weights give near-tied top tokens, so one flip changes the rest of a free run),
 *       24/24 teacher-forced, 0.002. With every product native: tiny 20/24 free-run, 23/24 teacher-forced, 0.10;
 *       lite-layers:2 4/24, 24/24, 0.032 (the bf16 kernel's prefill products moved tiny as much: 0.092).
 *       Bounds 20 (tiny) / 1 free-run, 22 argmax, 0.2 / 0.08 (as for bf16).</li>
 *   <li>bf16 weights: the only difference is the native bf16 kernel's activations, rounded to bf16 once per product
 *       (every bf16 product: decode, lm_head, and since the kernel's GEMM form also the teacher-forced prefill's
 *       attention, dense MLP and expert groups of any size), and its order of float additions. With only the
 *       matrix-vector products native both presets agreed 24/24 with max |delta top-5 logprob| 0.00083 (tiny) and
 *       0.00086 (lite-layers:2); with the prefill's products native too, 24/24 free-run, 23/24 (tiny) and 24/24
 *       teacher-forced argmax, and 0.092 (tiny) and 0.0094 (lite-layers:2) (the former 4x4 dot-product kernel on the
 *       same products: 0.093 and 0.034, so this is the activations' rounding, not the tiling). Bounds 20/24 free-run
 *       (tiny; 4/24 on lite-layers:2), 22/24 teacher-forced argmax, and 0.2 / 0.08 (about twice the larger measured
 *       delta per preset).</li>
 * </ul>
 */
class NativeKernelsModelTest {
    private static final int[] PROMPT = {0, 17, 250, 3, 999, 42, 7, 7, 512, 100, 64, 5, 800};

    @ParameterizedTest
    @CsvSource({"INT8, tiny, 20, 22, 0.2", "INT8, lite-layers:2, 1, 22, 0.08",
            "BF16, tiny, 20, 22, 0.2", "BF16, lite-layers:2, 4, 22, 0.08"})
    void nativeKernelsStayCloseToTheJavaKernels(WeightFormat format, String preset, int minFree, int minArgmax,
                                                double maxDelta) {
        assumeTrue(NativeInt8.unavailableReason() == null, "native kernels unavailable: "
                + NativeInt8.unavailableReason());
        int steps = 24;
        try (VectorBackend java = new VectorBackend(2);
             VectorBackend nat = new VectorBackend(2, CpuKernels.NATIVE);
             DeepseekV2Model reference = DeepseekV2Model.load(TestCheckpoints.preset(preset, 7), java, format, null);
             DeepseekV2Model candidate = DeepseekV2Model.load(TestCheckpoints.preset(preset, 7), nat, format, null)) {
            Int8Agreement a = Int8Agreement.measure(reference, candidate, PROMPT, steps);
            System.out.println("native vs java " + format.label() + " on " + preset + ": " + a);
            assertTrue(a.freeRunAgreedSteps() >= minFree, a.toString());
            assertTrue(a.argmaxAgreedSteps() >= minArgmax, a.toString());
            assertTrue(a.maxTop5LogprobDelta() < maxDelta, a.toString());
        }
    }
}
