package dev.dsv2.engine.cuda;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The device arrays of one grouped SwiGLU call (see swiglu.cu): per group the expert's weight pointers and its entry
 * range, per entry the activation row and scale, scratch for the hidden activations and per-entry outputs, and the
 * by-row index (CSR, rows in order of first appearance, each row's entries in entry order) the combine kernel sums
 * in — the order the CPU backend adds the groups in.
 */
record SwiGluPlan(int groups, int distinctRows, DeviceBuffer gates, DeviceBuffer ups, DeviceBuffer downs,
                  DeviceBuffer starts, DeviceBuffer rows, DeviceBuffer scales, DeviceBuffer hidden, DeviceBuffer y,
                  DeviceBuffer rowIds, DeviceBuffer rowEntryStarts, DeviceBuffer rowEntries) implements AutoCloseable {

    /**
     * @param starts  group g's entries are [starts[g], starts[g+1])
     * @param rows    activation row of each entry
     * @param scales  output scale of each entry
     * @param gate    per group, the device copy of its gate weight [I, D] (likewise up, down [D, I])
     */
    static SwiGluPlan build(int[] starts, int[] rows, float[] scales, DeviceBuffer[] gate, DeviceBuffer[] up,
                            DeviceBuffer[] down, int d, int inter) {
        int groups = gate.length;
        int entries = starts[groups];
        Map<Integer, List<Integer>> byRow = new LinkedHashMap<>();
        for (int e = 0; e < entries; e++) {
            byRow.computeIfAbsent(rows[e], r -> new ArrayList<>()).add(e);
        }
        int[] rowIds = new int[byRow.size()];
        int[] rowStarts = new int[byRow.size() + 1];
        int[] rowEntries = new int[entries];
        int j = 0;
        int k = 0;
        for (Map.Entry<Integer, List<Integer>> r : byRow.entrySet()) {
            rowIds[j] = r.getKey();
            rowStarts[j] = k;
            for (int e : r.getValue()) {
                rowEntries[k++] = e;
            }
            j++;
        }
        rowStarts[j] = k;
        return new SwiGluPlan(groups, byRow.size(), DeviceBuffer.pointers(gate), DeviceBuffer.pointers(up),
                DeviceBuffer.pointers(down), DeviceBuffer.of(starts), DeviceBuffer.of(rows), DeviceBuffer.of(scales),
                DeviceBuffer.zeros((long) entries * inter), DeviceBuffer.zeros((long) entries * d),
                DeviceBuffer.of(rowIds), DeviceBuffer.of(rowStarts), DeviceBuffer.of(rowEntries));
    }

    @Override
    public void close() {
        for (DeviceBuffer b : new DeviceBuffer[]{gates, ups, downs, starts, rows, scales, hidden, y, rowIds,
                rowEntryStarts, rowEntries}) {
            b.close();
        }
    }
}
