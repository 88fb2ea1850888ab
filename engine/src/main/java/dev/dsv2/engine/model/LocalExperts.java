package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Backend;

import java.util.Arrays;

import static dev.dsv2.engine.model.Workspace.Slot.EXPERT_IN;
import static dev.dsv2.engine.model.Workspace.Slot.EXPERT_OUT;

/**
 * Routed experts computed in this process. Rows are grouped by expert so that each selected expert's weights are
 * streamed once per call for all the rows routed to it. An expert shard holds only its share: experts it does not
 * own are null, and routing a row to one of them is an error naming layer and expert.
 */
public final class LocalExperts implements RoutedExperts {
    private final Backend backend;
    private final SwiGluMlp[][] experts; // [layer][expert], null where not a MoE layer / not owned
    private final int hidden;
    private final ThreadLocal<Workspace> workspaces = ThreadLocal.withInitial(Workspace::new);

    public LocalExperts(Backend backend, SwiGluMlp[][] experts, int hidden) {
        this.backend = backend;
        this.experts = experts;
        this.hidden = hidden;
    }

    public boolean owns(int layer, int expert) {
        return layer < experts.length && experts[layer] != null && expert >= 0 && expert < experts[layer].length
                && experts[layer][expert] != null;
    }

    @Override
    public void compute(int layer, float[] x, int rows, int[] ids, float[] weights, int topK, float[] out) {
        Arrays.fill(out, 0, rows * hidden, 0f);
        SwiGluMlp[] layerExperts = experts[layer];
        int n = layerExperts.length;
        int[] counts = new int[n + 1];
        for (int i = 0; i < rows * topK; i++) {
            int e = ids[i];
            if (!owns(layer, e)) {
                throw new IllegalArgumentException("layer " + layer + ": expert " + e + " is not held here");
            }
            counts[e + 1]++;
        }
        for (int e = 0; e < n; e++) {
            counts[e + 1] += counts[e];
        }
        int[] order = new int[rows * topK];
        int[] fill = Arrays.copyOf(counts, n);
        for (int i = 0; i < rows * topK; i++) {
            order[fill[ids[i]]++] = i;
        }
        Workspace ws = workspaces.get();
        for (int e = 0; e < n; e++) {
            int from = counts[e];
            int m = counts[e + 1] - from;
            if (m == 0) {
                continue;
            }
            float[] in = ws.get(EXPERT_IN, m * hidden);
            for (int j = 0; j < m; j++) {
                int row = order[from + j] / topK;
                System.arraycopy(x, row * hidden, in, j * hidden, hidden);
            }
            float[] y = ws.get(EXPERT_OUT, m * hidden);
            layerExperts[e].forward(backend, in, m, y, ws);
            for (int j = 0; j < m; j++) {
                int slot = order[from + j];
                backend.axpy(weights[slot], y, j * hidden, out, (slot / topK) * hidden, hidden);
            }
        }
    }
}
