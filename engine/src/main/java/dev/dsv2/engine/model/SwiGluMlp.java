package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Weight;

import static dev.dsv2.engine.model.Workspace.Slot.EXPERT_GATE;
import static dev.dsv2.engine.model.Workspace.Slot.EXPERT_UP;

/**
 * The reference {@code DeepseekV2MLP}: {@code down(silu(gate(x)) * up(x))}. Used for the dense first layer(s), the
 * fused shared experts and every routed expert.
 */
public record SwiGluMlp(Weight gate, Weight up, Weight down) implements FeedForward {
    // gate, up: [I, D]; down: [D, I]

    public int intermediate() {
        return gate.rows();
    }

    @Override
    public void forward(Backend be, float[] x, int rows, float[] out, Workspace ws) {
        int inter = gate.rows();
        float[] g = ws.get(EXPERT_GATE, rows * inter);
        float[] u = ws.get(EXPERT_UP, rows * inter);
        be.matmul(gate, x, 0, g, 0, rows);
        be.matmul(up, x, 0, u, 0, rows);
        for (int i = 0, n = rows * inter; i < n; i++) {
            g[i] = silu(g[i]) * u[i];
        }
        be.matmul(down, g, 0, out, 0, rows);
    }

    static float silu(float v) {
        return (float) (v / (1.0 + Math.exp(-v)));
    }

    public long byteSize() {
        return gate.byteSize() + up.byteSize() + down.byteSize();
    }
}
