package dev.dsv2.engine.kernel;

import java.util.Arrays;

/**
 * The rows of one {@link Backend#swiGlu} call, grouped by expert: group g runs one SwiGLU expert
 * ({@code gate, up [I_g, D]}, {@code down [D, I_g]}) over its entries, each an activation row index and the scale its
 * output is added with. A MoE step has one group per selected expert (each expert's weights are then read once for
 * all the rows routed to it); a dense MLP is a single group over every row with scale 1.
 *
 * <p>Filled with {@link #clear}, {@link #addGroup} and {@link #addRow}, and reused between calls: once grown it does
 * not allocate. It also carries the kernels' per-call buffers (gathered inputs, hidden activations), so one instance
 * belongs to one caller at a time.
 */
public final class ExpertGroups {
    private Weight[] gates = new Weight[8];
    private Weight[] ups = new Weight[8];
    private Weight[] downs = new Weight[8];
    private int[] starts = new int[9];
    private int[] rows = new int[16];
    private float[] scales = new float[16];
    private int groups;
    private int entries;
    private int hidden = -1;

    /** Per-group offsets into the buffers below, filled by the kernels. */
    private int[] inputOffset = new int[9];
    private int[] hiddenOffset = new int[9];
    private int[] unitStart = new int[9];
    private float[] input = new float[0];
    private float[] hiddenAct = new float[0];
    private float[] downOut = new float[0];

    /** Forgets every group (keeps the capacity). */
    public ExpertGroups clear() {
        groups = 0;
        entries = 0;
        hidden = -1;
        return this;
    }

    /** Starts a group that runs the SwiGLU expert {@code (gate, up, down)}; its rows follow with {@link #addRow}. */
    public ExpertGroups addGroup(Weight gate, Weight up, Weight down) {
        int inter = gate.rows();
        int d = gate.cols();
        if (up.rows() != inter || up.cols() != d || down.rows() != d || down.cols() != inter) {
            throw new IllegalArgumentException("SwiGLU expert shapes disagree: " + gate.name() + " [" + inter + ", "
                    + d + "], " + up.name() + " [" + up.rows() + ", " + up.cols() + "], " + down.name() + " ["
                    + down.rows() + ", " + down.cols() + "] (expected gate, up [I, D] and down [D, I])");
        }
        if (hidden >= 0 && d != hidden) {
            throw new IllegalArgumentException("expert " + gate.name() + " has hidden size " + d
                    + " but earlier groups of this call have " + hidden);
        }
        hidden = d;
        if (groups == gates.length) {
            int cap = groups * 2;
            gates = Arrays.copyOf(gates, cap);
            ups = Arrays.copyOf(ups, cap);
            downs = Arrays.copyOf(downs, cap);
            starts = Arrays.copyOf(starts, cap + 1);
            inputOffset = Arrays.copyOf(inputOffset, cap + 1);
            hiddenOffset = Arrays.copyOf(hiddenOffset, cap + 1);
            unitStart = Arrays.copyOf(unitStart, cap + 1);
        }
        gates[groups] = gate;
        ups[groups] = up;
        downs[groups] = down;
        starts[groups] = entries;
        groups++;
        starts[groups] = entries;
        return this;
    }

    /** Adds activation row {@code row} to the current group; its output is added to {@code out[row]} times {@code scale}. */
    public ExpertGroups addRow(int row, float scale) {
        if (groups == 0) {
            throw new IllegalStateException("addRow before addGroup");
        }
        if (row < 0) {
            throw new IllegalArgumentException("row index " + row + " is negative");
        }
        if (entries == rows.length) {
            rows = Arrays.copyOf(rows, entries * 2);
            scales = Arrays.copyOf(scales, entries * 2);
        }
        rows[entries] = row;
        scales[entries] = scale;
        entries++;
        starts[groups] = entries;
        return this;
    }

    public int groupCount() {
        return groups;
    }

    /** Entries of all groups together. */
    public int entryCount() {
        return entries;
    }

    /** The hidden size D shared by every group (0 when empty). */
    public int hiddenSize() {
        return Math.max(hidden, 0);
    }

    public Weight gate(int g) {
        return gates[g];
    }

    public Weight up(int g) {
        return ups[g];
    }

    public Weight down(int g) {
        return downs[g];
    }

    /** Index of group g's first entry; its entries are {@code [start(g), start(g + 1))}. */
    public int start(int g) {
        return starts[g];
    }

    public int rowCount(int g) {
        return starts[g + 1] - starts[g];
    }

    /** The activation row of entry {@code e} (counted over all groups). */
    public int row(int e) {
        return rows[e];
    }

    public float scale(int e) {
        return scales[e];
    }

    /** Bytes of the weights of every group (each read once per call). */
    public long weightBytes() {
        long sum = 0;
        for (int g = 0; g < groups; g++) {
            sum += gates[g].byteSize() + ups[g].byteSize() + downs[g].byteSize();
        }
        return sum;
    }

    /** Kernel scratch (a host backend's): per group, its offset into {@link #input}, filled by the kernel. */
    public int[] inputOffsets() {
        return inputOffset;
    }

    /** Kernel scratch: per group, its offset into {@link #hidden}. */
    public int[] hiddenOffsets() {
        return hiddenOffset;
    }

    /** Kernel scratch: per group, its first work unit (one more entry: the total). */
    public int[] unitStarts() {
        return unitStart;
    }

    /** The entries' rows, group by group (valid up to the entry count). */
    public int[] rowArray() {
        return rows;
    }

    /** Kernel scratch of at least {@code size} floats (a host backend's). */
    public float[] input(int size) {
        if (input.length < size) {
            input = new float[Math.max(size, input.length + input.length / 2)];
        }
        return input;
    }

    /** Kernel scratch of at least {@code size} floats (a host backend's). */
    public float[] hidden(int size) {
        if (hiddenAct.length < size) {
            hiddenAct = new float[Math.max(size, hiddenAct.length + hiddenAct.length / 2)];
        }
        return hiddenAct;
    }

    /** Kernel scratch of at least {@code size} floats (a host backend's). */
    public float[] downOut(int size) {
        if (downOut.length < size) {
            downOut = new float[Math.max(size, downOut.length + downOut.length / 2)];
        }
        return downOut;
    }
}
