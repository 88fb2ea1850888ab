package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.tensor.DType;

import static dev.dsv2.engine.kernel.cpu.GemmKernels.BLOCK;
import static dev.dsv2.engine.kernel.cpu.GemmKernels.GROUP_ROWS;

/**
 * {@link VectorBackend#swiGlu}: the routed experts' SwiGLU for all groups at once, in parallel phases on the
 * backend's worker pool — gate/up/SiLU over (expert, row group) units, then down. When every group is a decode-sized
 * one (matrix-vector path), down runs per group in long runs of output rows into the group's own buffer, and the
 * scaled rows are then added in a fixed order; otherwise down runs over hidden-dimension slices, each slice adding
 * every expert's scaled contribution to its own columns, so no two threads write the same output. With the native
 * int8 kernel ({@link NativeInt8}) the matrix-vector groups' inputs and hidden activations are quantized once per group
 * and their products run natively; with bf16 weights under the native kernels ({@link NativeBf16}) they are rounded to
 * bf16 once per group instead.
 */
final class GroupedSwiGlu {
    /**
     * Work units a SwiGLU call's matrix-vector gate/up rows (and, for an all-decode call, its down rows) are split
     * into: enough for two threads to balance, few enough that each unit streams a long run of weight rows.
     */
    private static final int DOT_UNITS = 32;

    private final VectorBackend backend;
    private final WorkerPool pool;
    /** One task object per calling thread, so a decode step's SwiGLU calls create no task objects. */
    private final ThreadLocal<Task> task = ThreadLocal.withInitial(() -> new Task());

    GroupedSwiGlu(VectorBackend backend) {
        this.backend = backend;
        this.pool = backend.pool();
    }

    /**
     * Rows from which a group takes the GEMM path: {@link VectorBackend#GEMM_MIN_ROWS}, except under the native
     * kernels with bf16 or int8 experts, whose {@link NativeBf16#rows} / {@link NativeInt8#rows} take many
     * activation rows themselves (every group takes them).
     */
    private int minRows(ExpertGroups eg) {
        return backend.nativeBf16() && allBf16(eg) || backend.nativeInt8() && allInt8(eg) ? Integer.MAX_VALUE
                : VectorBackend.GEMM_MIN_ROWS;
    }

    private static boolean allBf16(ExpertGroups eg) {
        return eg.gate(0).dtype() == DType.BF16 && eg.up(0).dtype() == DType.BF16 && eg.down(0).dtype() == DType.BF16;
    }

    private static boolean allInt8(ExpertGroups eg) {
        return eg.gate(0).isInt8() && eg.up(0).isInt8() && eg.down(0).isInt8();
    }

    /** {@link VectorBackend#swiGlu}: every group's {@code silu(gate·x) ⊙ (up·x)}, then down, scaled into out. */
    void run(ExpertGroups eg, float[] x, int xOff, float[] out, int outOff) {
        int groups = eg.groupCount();
        if (groups == 0) {
            return;
        }
        int d = eg.hiddenSize();
        boolean allDot = true;
        long dotRows = 0;
        for (int g = 0; g < groups; g++) {
            boolean dot = eg.rowCount(g) < minRows(eg);
            allDot &= dot;
            dotRows += dot ? eg.gate(g).rows() : 0;
        }
        // Whole pair blocks: a matrix-vector group's h is pair-ordered, and a unit's rows map onto themselves.
        int dotSpan = Lanes.roundUp((int) Math.max(4L * MatVecKernels.P, (dotRows + DOT_UNITS - 1) / DOT_UNITS),
                MatVecKernels.P);
        // Gate/up work unit in weight rows (spanOf): GEMM groups widen 48 rows at a time; matrix-vector groups take
        // dotSpan rows (about DOT_UNITS units per call), so a unit streams a long run. The down projection: per
        // group in long runs when every group is matrix-vector (downPerGroup), else in 48-row slices of the hidden
        // dimension across all groups.
        int inSize = 0;
        int hSize = 0;
        int units = 0;
        for (int g = 0; g < groups; g++) {
            int m = eg.rowCount(g);
            int inter = eg.gate(g).rows();
            eg.inputOffsets()[g] = inSize;
            eg.hiddenOffsets()[g] = hSize;
            eg.unitStarts()[g] = units;
            boolean gemm = m >= minRows(eg);
            inSize += gemm ? GemmKernels.packedSize(m, d) : m * d;
            hSize += gemm ? GemmKernels.packedSize(m, inter) : m * inter;
            int span = spanOf(eg, g, dotSpan);
            units += (inter + span - 1) / span;
        }
        eg.unitStarts()[groups] = units;
        Task t = task.get().set(eg, x, xOff, d, eg.input(inSize), eg.hidden(hSize), out, outOff,
                dotSpan);
        boolean quantized = backend.nativeInt8() && eg.gate(0).isInt8() && dotRows > 0;
        boolean rounded = backend.nativeBf16() && eg.gate(0).dtype() == DType.BF16 && dotRows > 0;
        if (quantized) {
            KernelScratch s = backend.scratch();
            t.quantized(s.codes(inSize), s.codeScales(scaleOffset(inSize) + 1), s.codes2(hSize),
                    s.codeScales2(scaleOffset(hSize) + 1));
        } else if (rounded) {
            KernelScratch s = backend.scratch();
            t.rounded(s.halves(inSize), s.halves2(hSize));
        }
        try {
            if (groups == 1 && eg.rowCount(0) >= minRows(eg)) {
                pool.parallelFor((eg.rowCount(0) + BLOCK - 1) / BLOCK, 1, t.phase(Task.PACK));
            } else {
                // A decode step's few rows are copied in less time than a hand-off to the workers takes.
                int grain = (long) eg.entryCount() * d < (1 << 16) ? groups : 1;
                pool.parallelFor(groups, grain, t.phase(Task.GATHER));
            }
            pool.parallelFor(units, 1, t.phase(Task.GATE_UP));
            if (quantized || rounded) {
                // Per group in parallel once the hidden activations are prefill-sized (each group writes its own).
                pool.parallelFor(groups, hSize >= (1 << 16) ? 1 : groups, t.phase(Task.QUANTIZE_HIDDEN));
            }
            if (allDot) {
                // Down per group in long runs of output rows (about DOT_UNITS units, at least 48 rows each) into
                // the group's own rows of a buffer; then each entry's row is added, scaled, into out in entry order
                // (a fixed order, so the result does not depend on which thread ran which unit).
                int unitsPerGroup = Math.max(1, Math.min((d + GROUP_ROWS - 1) / GROUP_ROWS, DOT_UNITS / groups));
                t.downSpan = Lanes.roundUp((d + unitsPerGroup - 1) / unitsPerGroup, 4);
                t.downUnits = (d + t.downSpan - 1) / t.downSpan;
                t.y = eg.downOut(eg.entryCount() * d);
                pool.parallelFor(groups * t.downUnits, 1, t.phase(Task.DOWN_PER_GROUP));
                for (int e = 0, n = eg.entryCount(); e < n; e++) {
                    MatVecKernels.axpy(eg.scale(e), t.y, e * d, out, outOff + eg.row(e) * d, d);
                }
            } else {
                pool.parallelFor((d + GROUP_ROWS - 1) / GROUP_ROWS, 1, t.phase(Task.DOWN_SLICES));
            }
        } finally {
            t.clear();
        }
    }

    /**
     * The parallel phases of one {@link #swiGlu} call, as a reusable task object (one per calling thread, so a
     * decode step's SwiGLU calls create no task objects).
     */
    private final class Task implements WorkerPool.RangeTask {
        static final int PACK = 0;
        static final int GATHER = 1;
        static final int GATE_UP = 2;
        static final int DOWN_PER_GROUP = 3;
        static final int DOWN_SLICES = 4;
        /**
         * The native kernels' matrix-vector groups: h quantized per block of 32 (int8) or rounded to bf16 for their
         * down projection.
         */
        static final int QUANTIZE_HIDDEN = 5;

        private int phase;
        private ExpertGroups eg;
        private float[] x;
        private int xOff;
        private int d;
        private float[] in;
        private float[] h;
        private float[] out;
        private int outOff;
        private int dotSpan;
        /** Quantized inputs and h of the native kernel's matrix-vector groups (null: the Java kernels). */
        private byte[] inCodes;
        private float[] inScales;
        private byte[] hCodes;
        private float[] hScales;
        /** bf16-rounded inputs and h of the native bf16 kernel's matrix-vector groups (null: not that kernel). */
        private short[] inHalves;
        private short[] hHalves;
        float[] y;
        int downSpan;
        int downUnits;

        Task set(ExpertGroups eg, float[] x, int xOff, int d, float[] in, float[] h, float[] out, int outOff,
                       int dotSpan) {
            this.eg = eg;
            this.x = x;
            this.xOff = xOff;
            this.d = d;
            this.in = in;
            this.h = h;
            this.out = out;
            this.outOff = outOff;
            this.dotSpan = dotSpan;
            return this;
        }

        void quantized(byte[] inCodes, float[] inScales, byte[] hCodes, float[] hScales) {
            this.inCodes = inCodes;
            this.inScales = inScales;
            this.hCodes = hCodes;
            this.hScales = hScales;
        }

        void rounded(short[] inHalves, short[] hHalves) {
            this.inHalves = inHalves;
            this.hHalves = hHalves;
        }

        Task phase(int phase) {
            this.phase = phase;
            return this;
        }

        void clear() {
            eg = null;
            x = null;
            in = null;
            h = null;
            out = null;
            y = null;
            inCodes = null;
            inScales = null;
            hCodes = null;
            hScales = null;
            inHalves = null;
            hHalves = null;
        }

        @Override
        public void run(int from, int to) {
            switch (phase) {
                case PACK -> GemmKernels.packBlocks(x, xOff, d, eg.rowArray(), eg.start(0), eg.rowCount(0), d, in,
                        eg.inputOffsets()[0], from, to);
                case GATHER -> {
                    gatherInputs(eg, x, xOff, d, in, from, to);
                    if (inCodes != null) {
                        quantizeDotGroups(eg, in, eg.inputOffsets(), d, inCodes, inScales, from, to);
                    } else if (inHalves != null) {
                        roundDotGroups(eg, in, eg.inputOffsets(), d, inHalves, from, to);
                    }
                }
                case GATE_UP -> {
                    for (int u = from; u < to; u++) {
                        int g = groupOfUnit(eg, u);
                        int span = spanOf(eg, g, dotSpan);
                        gateUp(eg, g, (u - eg.unitStarts()[g]) * span, span, in, h, inCodes, inScales, inHalves);
                    }
                }
                case QUANTIZE_HIDDEN -> {
                    for (int g = from; g < to; g++) {
                        if (eg.rowCount(g) < minRows(eg)) {
                            int inter = eg.down(g).cols();
                            if (hCodes != null) {
                                quantizeDotGroups(eg, h, eg.hiddenOffsets(), inter, hCodes, hScales, g, g + 1);
                            } else {
                                roundDotGroups(eg, h, eg.hiddenOffsets(), inter, hHalves, g, g + 1);
                            }
                        }
                    }
                }
                case DOWN_PER_GROUP -> {
                    for (int u = from; u < to; u++) {
                        int g = u / downUnits;
                        int r0 = (u % downUnits) * downSpan;
                        Weight down = eg.down(g);
                        int inter = down.cols();
                        if (hCodes != null && down.isInt8()) {
                            int ho = eg.hiddenOffsets()[g];
                            NativeInt8.rows(down, r0, Math.min(d, r0 + downSpan), hCodes, ho, hScales,
                                    scaleOffset(ho), eg.rowCount(g), y, eg.start(g) * d, d, false);
                            continue;
                        }
                        if (hHalves != null && down.dtype() == DType.BF16) {
                            NativeBf16.rows(down, r0, Math.min(d, r0 + downSpan), hHalves, eg.hiddenOffsets()[g],
                                    eg.rowCount(g), y, eg.start(g) * d, d, false, false);
                            continue;
                        }
                        MatVecKernels.rows(down, r0, Math.min(d, r0 + downSpan), h, eg.hiddenOffsets()[g], inter,
                                eg.rowCount(g), y, eg.start(g) * d, d, false,
                                backend.scratch().row(MatVecKernels.scratchFloats(inter)));
                    }
                }
                case DOWN_SLICES -> {
                    for (int sl = from; sl < to; sl++) {
                        for (int g = 0; g < eg.groupCount(); g++) {
                            down(eg, g, sl * GROUP_ROWS, GROUP_ROWS, h, out, outOff, hCodes, hScales, hHalves);
                        }
                    }
                }
                default -> throw new IllegalStateException("unknown SwiGLU phase " + phase);
            }
        }
    }

    /** Each group's rows of {@code x}: packed for the GEMM kernels, or gathered row-major for the dot kernels. */
    private void gatherInputs(ExpertGroups eg, float[] x, int xOff, int d, float[] in, int g0, int g1) {
        for (int g = g0; g < g1; g++) {
            int m = eg.rowCount(g);
            if (m >= minRows(eg)) {
                GemmKernels.pack(x, xOff, d, eg.rowArray(), eg.start(g), m, d, in, eg.inputOffsets()[g]);
            } else {
                for (int j = 0; j < m; j++) {
                    MatVecKernels.toPairOrder(x, xOff + eg.row(eg.start(g) + j) * d, d, in,
                            eg.inputOffsets()[g] + j * d);
                }
            }
        }
    }

    /** Where a quantized buffer's scales start for codes at {@code offset}: non-overlapping for any group sizes. */
    private static int scaleOffset(int offset) {
        return (offset + Weight.INT8_BLOCK - 1) / Weight.INT8_BLOCK;
    }

    /**
     * Groups {@code [g0, g1)} that take the matrix-vector path: their pair-ordered rows of {@code n} values at
     * {@code offsets[g]} of {@code src} quantized for the native kernel, codes at the same offsets, scales at
     * {@link #scaleOffset}.
     */
    private void quantizeDotGroups(ExpertGroups eg, float[] src, int[] offsets, int n, byte[] codes,
                                          float[] scales, int g0, int g1) {
        for (int g = g0; g < g1; g++) {
            int m = eg.rowCount(g);
            if (m < minRows(eg)) {
                int o = offsets[g];
                NativeInt8.quantize(src, o, n, m, n, true, codes, o, scales, scaleOffset(o));
            }
        }
    }

    /**
     * Groups {@code [g0, g1)} that take the matrix-vector path: their pair-ordered rows of {@code n} values at
     * {@code offsets[g]} of {@code src} rounded to bf16 (natural order) for the native bf16 kernel, at the same
     * offsets of {@code halves}.
     */
    private void roundDotGroups(ExpertGroups eg, float[] src, int[] offsets, int n, short[] halves, int g0,
                                       int g1) {
        for (int g = g0; g < g1; g++) {
            int m = eg.rowCount(g);
            if (m < minRows(eg)) {
                NativeBf16.round(src, offsets[g], n, m, n, true, halves, offsets[g]);
            }
        }
    }

    /** Gate/up rows per unit of group g: whole pair blocks for the matrix-vector path (its h is pair-ordered). */
    private int spanOf(ExpertGroups eg, int g, int dotSpan) {
        return eg.rowCount(g) < minRows(eg) ? dotSpan : GROUP_ROWS;
    }

    private static int groupOfUnit(ExpertGroups eg, int u) {
        int lo = 0;
        int hi = eg.groupCount() - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (eg.unitStarts()[mid] <= u) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /** Hidden units {@code [r0, r0 + span)} of group g: {@code h = silu(gate·x) ⊙ (up·x)}. */
    private void gateUp(ExpertGroups eg, int g, int r0, int span, float[] in, float[] h, byte[] inCodes,
                        float[] inScales, short[] inHalves) {
        KernelScratch s = backend.scratch();
        Weight gate = eg.gate(g);
        Weight up = eg.up(g);
        int m = eg.rowCount(g);
        int d = gate.cols();
        int inter = gate.rows();
        int count = Math.min(span, inter - r0);
        int inOff = eg.inputOffsets()[g];
        int hOff = eg.hiddenOffsets()[g];
        if (m < minRows(eg)) {
            // h is kept in pair order (the down projection's input); a span is whole pair blocks, so the pair
            // positions of rows [r0, r0 + count) are [r0, r0 + count) again.
            float[] u = s.temp(m * span);
            if (inCodes != null && gate.isInt8() && up.isInt8()) {
                NativeInt8.rows(gate, r0, r0 + count, inCodes, inOff, inScales, scaleOffset(inOff), m, h, hOff, inter,
                        true);
                NativeInt8.rows(up, r0, r0 + count, inCodes, inOff, inScales, scaleOffset(inOff), m, u, -r0, span,
                        true);
            } else if (inHalves != null && gate.dtype() == DType.BF16 && up.dtype() == DType.BF16) {
                NativeBf16.rows(gate, r0, r0 + count, inHalves, inOff, m, h, hOff, inter, true, false);
                NativeBf16.rows(up, r0, r0 + count, inHalves, inOff, m, u, -r0, span, true, false);
            } else {
                float[] row = s.row(MatVecKernels.scratchFloats(d));
                MatVecKernels.rows(gate, r0, r0 + count, in, inOff, d, m, h, hOff, inter, true, row);
                MatVecKernels.rows(up, r0, r0 + count, in, inOff, d, m, u, -r0, span, true, row);
            }
            for (int b = 0; b < m; b++) {
                int ho = hOff + b * inter + r0;
                Lanes.siluMul(h, ho, u, b * span, h, ho, count);
            }
            return;
        }
        int padded = GemmKernels.paddedRows(count);
        float[] pwGate = s.widen(GROUP_ROWS * d);
        float[] pwUp = s.widen2(GROUP_ROWS * d);
        GemmKernels.widenRows(gate, r0, count, padded, pwGate);
        GemmKernels.widenRows(up, r0, count, padded, pwUp);
        float[] accGate = s.acc(GemmKernels.accSize(m));
        float[] accUp = s.acc2(GemmKernels.accSize(m));
        GemmKernels.groupProduct(pwGate, padded, d, in, inOff, m, accGate);
        GemmKernels.groupProduct(pwUp, padded, d, in, inOff, m, accUp);
        for (int b0 = 0; b0 < m; b0 += BLOCK) {
            int width = GemmKernels.blockWidth(m, b0);
            for (int i = 0; i < count; i++) {
                // h is down's packed input: its k index (the intermediate row) in pair order
                int t = GemmKernels.accIndex(b0, i);
                Lanes.siluMul(accGate, t, accUp, t, h,
                        hOff + b0 * inter + MatVecKernels.pairPos(r0 + i, inter) * width, width);
            }
        }
    }

    /** Output columns {@code [r0, r0 + span)} of group g's down projection, scaled into each entry's row. */
    private void down(ExpertGroups eg, int g, int r0, int span, float[] h, float[] out, int outOff, byte[] hCodes,
                      float[] hScales, short[] hHalves) {
        KernelScratch s = backend.scratch();
        Weight down = eg.down(g);
        int m = eg.rowCount(g);
        int d = down.rows();
        int inter = down.cols();
        int count = Math.min(span, d - r0);
        int hOff = eg.hiddenOffsets()[g];
        int first = eg.start(g);
        if (m < minRows(eg)) {
            float[] y = s.temp(m * span);
            if (hCodes != null && down.isInt8()) {
                NativeInt8.rows(down, r0, r0 + count, hCodes, hOff, hScales, scaleOffset(hOff), m, y, -r0, span,
                        false);
            } else if (hHalves != null && down.dtype() == DType.BF16) {
                NativeBf16.rows(down, r0, r0 + count, hHalves, hOff, m, y, -r0, span, false, false);
            } else {
                MatVecKernels.rows(down, r0, r0 + count, h, hOff, inter, m, y, -r0, span, false,
                        s.row(MatVecKernels.scratchFloats(inter)));
            }
            for (int b = 0; b < m; b++) {
                MatVecKernels.axpy(eg.scale(first + b), y, b * span, out,
                        outOff + eg.row(first + b) * d + r0, count);
            }
            return;
        }
        int padded = GemmKernels.paddedRows(count);
        float[] pw = s.widen(GROUP_ROWS * inter);
        GemmKernels.widenRows(down, r0, count, padded, pw);
        float[] acc = s.acc(GemmKernels.accSize(m));
        GemmKernels.groupProduct(pw, padded, inter, h, hOff, m, acc);
        for (int b0 = 0; b0 < m; b0 += BLOCK) {
            int nb = Math.min(GemmKernels.blockWidth(m, b0), m - b0);
            int base = GemmKernels.accIndex(b0, 0);
            for (int j = 0; j < nb; j++) {
                int e = first + b0 + j;
                float sc = eg.scale(e);
                int o = outOff + eg.row(e) * d + r0;
                for (int i = 0, t = base + j; i < count; i++, t += BLOCK) {
                    out[o + i] += sc * acc[t];
                }
            }
        }
    }
}
