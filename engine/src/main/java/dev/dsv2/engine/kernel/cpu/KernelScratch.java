package dev.dsv2.engine.kernel.cpu;

/**
 * Growable per-thread buffers of {@link VectorBackend}'s kernels ({@link VectorBackend#scratch}, one per thread); each
 * field is used at one nesting level only.
 */
final class KernelScratch {
    float[] pack = new float[0];
    float[] widen = new float[0];
    float[] widen2 = new float[0];
    float[] row = new float[0];
    float[] temp = new float[0];
    float[] scores = new float[0];
    float[] acc = new float[0];
    float[] acc2 = new float[0];
    byte[] codes = new byte[0];
    float[] codeScales = new float[0];
    byte[] codes2 = new byte[0];
    float[] codeScales2 = new float[0];
    short[] halves = new short[0];
    short[] halves2 = new short[0];

    static short[] grow(short[] a, int n) {
        return a.length >= n ? a : new short[Math.max(n, a.length + a.length / 2)];
    }

    static byte[] grow(byte[] a, int n) {
        return a.length >= n ? a : new byte[Math.max(n, a.length + a.length / 2)];
    }

    static float[] grow(float[] a, int n) {
        return a.length >= n ? a : new float[Math.max(n, a.length + a.length / 2)];
    }

    float[] pack(int n) {
        return pack = grow(pack, n);
    }

    float[] widen(int n) {
        return widen = grow(widen, n);
    }

    float[] widen2(int n) {
        return widen2 = grow(widen2, n);
    }

    float[] row(int n) {
        return row = grow(row, n);
    }

    float[] temp(int n) {
        return temp = grow(temp, n);
    }

    float[] scores(int n) {
        return scores = grow(scores, n);
    }

    float[] acc(int n) {
        return acc = grow(acc, n);
    }

    float[] acc2(int n) {
        return acc2 = grow(acc2, n);
    }

    /** Quantized activations of the native kernel: codes, their scales; a second pair for SwiGLU's h. */
    byte[] codes(int n) {
        return codes = grow(codes, n);
    }

    float[] codeScales(int n) {
        return codeScales = grow(codeScales, n);
    }

    byte[] codes2(int n) {
        return codes2 = grow(codes2, n);
    }

    float[] codeScales2(int n) {
        return codeScales2 = grow(codeScales2, n);
    }

    /** bf16-rounded activations of the native bf16 kernel; a second buffer for SwiGLU's h. */
    short[] halves(int n) {
        return halves = grow(halves, n);
    }

    short[] halves2(int n) {
        return halves2 = grow(halves2, n);
    }
}
