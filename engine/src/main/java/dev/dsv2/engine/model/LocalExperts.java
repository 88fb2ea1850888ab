package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;
import dev.dsv2.engine.kernel.ExpertGroups;

import java.util.Arrays;

import static dev.dsv2.engine.model.Workspace.IntSlot.EXPERT_COUNTS;
import static dev.dsv2.engine.model.Workspace.IntSlot.EXPERT_FILL;
import static dev.dsv2.engine.model.Workspace.IntSlot.EXPERT_ORDER;

/**
 * Routed experts computed in this process. Rows are grouped by expert (a counting sort of the (row, expert) pairs)
 * and handed to the backend's fused SwiGLU kernel as one call, so each selected expert's weights are streamed once
 * per call for all the rows routed to it. An expert shard holds only its share: experts it does not own are null,
 * pairs marked {@link #SKIP} (owned by another shard) are left out of the grouping, and routing a row to an expert
 * not held is an error naming layer, pair, row and expert. The embedded model and the expert shards run this one
 * path, so a shard's partial sums come from the same kernel call as the embedded model's.
 */
public final class LocalExperts implements RoutedExperts {
    private final Backend backend;
    private final SwiGluMlp[][] experts; // [layer][expert], null where not a MoE layer / not owned
    private final int hidden;
    private final String holder;
    private final ThreadLocal<Workspace> workspaces;

    /** Every routed expert of the model, in this process. */
    public LocalExperts(Backend backend, SwiGluMlp[][] experts, int hidden) {
        this(backend, experts, hidden, "this process");
    }

    /**
     * @param experts {@code [layer][expert]}, null where not a MoE layer or not held
     * @param holder  who holds these experts, for messages (e.g. the shard's placement)
     */
    public LocalExperts(Backend backend, SwiGluMlp[][] experts, int hidden, String holder) {
        this.backend = backend;
        this.workspaces = ThreadLocal.withInitial(() -> new Workspace(backend));
        this.experts = experts;
        this.hidden = hidden;
        this.holder = holder;
    }

    public boolean owns(int layer, int expert) {
        return layer < experts.length && experts[layer] != null && expert >= 0 && expert < experts[layer].length
                && experts[layer][expert] != null;
    }

    @Override
    public void compute(int layer, Buffer x, int rows, int hidden, int[] ids, float[] weights, int topK, Buffer out) {
        computeWithShared(layer, x, rows, hidden, ids, weights, topK, null, out);
    }

    /**
     * {@link #compute} on host arrays {@code x, out [rows, hidden]} (an expert shard's wire data): the host backends
     * compute on the arrays themselves, a device backend copies them up and the result back.
     */
    public void compute(int layer, float[] x, int rows, int[] ids, float[] weights, int topK, float[] out) {
        computeWithShared(layer, x, rows, ids, weights, topK, null, out);
    }

    /** {@link #computeWithShared(int, Buffer, int, int, int[], float[], int, SwiGluMlp, Buffer)} on host arrays. */
    public void computeWithShared(int layer, float[] x, int rows, int[] ids, float[] weights, int topK,
                                  SwiGluMlp shared, float[] out) {
        int n = rows * hidden;
        try (Buffer bx = backend.wrapHost(x, n); Buffer bout = backend.wrapHost(out, n)) {
            computeWithShared(layer, bx, rows, hidden, ids, weights, topK, shared, bout);
            backend.unwrapHost(bout, out, n);
        }
    }

    /** Always: the shared experts join the routed experts' kernel call (one hand-off to the worker threads). */
    @Override
    public boolean takesSharedExperts() {
        return true;
    }

    /**
     * {@link #compute}, plus {@code shared(x[r])} added to every row when {@code shared} is not null — in the same
     * kernel call as the routed experts, so a decode step pays one hand-off to the worker threads, not two.
     */
    @Override
    public void computeWithShared(int layer, Buffer x, int rows, int hidden, int[] ids, float[] weights, int topK,
                                  SwiGluMlp shared, Buffer out) {
        if (hidden != this.hidden) {
            throw new IllegalArgumentException("rows of " + hidden + " values, the experts take " + this.hidden);
        }
        backend.zero(out, 0, (long) rows * hidden);
        SwiGluMlp[] layerExperts = experts[layer];
        int n = layerExperts.length;
        int pairs = rows * topK;
        Workspace ws = workspaces.get();
        int[] counts = ws.ints(EXPERT_COUNTS, n + 1);
        Arrays.fill(counts, 0, n + 1, 0);
        for (int i = 0; i < pairs; i++) {
            int e = ids[i];
            if (e == SKIP) {
                continue;
            }
            if (!owns(layer, e)) {
                throw new IllegalArgumentException("layer " + layer + ": pair " + i + " (row " + i / topK
                        + ") routes to expert " + e + ", which " + holder + " does not hold");
            }
            counts[e + 1]++;
        }
        for (int e = 0; e < n; e++) {
            counts[e + 1] += counts[e];
        }
        int[] order = ws.ints(EXPERT_ORDER, pairs);
        int[] fill = ws.ints(EXPERT_FILL, n);
        System.arraycopy(counts, 0, fill, 0, n);
        for (int i = 0; i < pairs; i++) {
            if (ids[i] != SKIP) {
                order[fill[ids[i]]++] = i;
            }
        }
        ExpertGroups groups = ws.expertGroups().clear();
        if (shared != null) {
            groups.addGroup(shared.gate(), shared.up(), shared.down());
            for (int r = 0; r < rows; r++) {
                groups.addRow(r, 1f);
            }
        }
        for (int e = 0; e < n; e++) {
            if (counts[e + 1] == counts[e]) {
                continue;
            }
            SwiGluMlp expert = layerExperts[e];
            groups.addGroup(expert.gate(), expert.up(), expert.down());
            for (int j = counts[e]; j < counts[e + 1]; j++) {
                int slot = order[j];
                groups.addRow(slot / topK, weights[slot]);
            }
        }
        backend.swiGlu(groups, x, out);
    }
}
