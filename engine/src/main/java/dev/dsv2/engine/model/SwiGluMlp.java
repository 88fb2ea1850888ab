package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.Weight;

import java.util.Arrays;

/**
 * The reference {@code DeepseekV2MLP}: {@code down(silu(gate(x)) * up(x))}. Used for the dense first layer(s), the
 * fused shared experts and every routed expert; runs as one group of the backend's fused SwiGLU kernel.
 */
public record SwiGluMlp(Weight gate, Weight up, Weight down) implements FeedForward {
    // gate, up: [I, D]; down: [D, I]

    public int intermediate() {
        return gate.rows();
    }

    @Override
    public void forward(Backend be, float[] x, int rows, float[] out, Workspace ws) {
        int d = gate.cols();
        Arrays.fill(out, 0, rows * d, 0f);
        ExpertGroups groups = ws.expertGroups().clear().addGroup(gate, up, down);
        for (int r = 0; r < rows; r++) {
            groups.addRow(r, 1f);
        }
        be.swiGlu(groups, x, 0, out, 0);
    }

    public long byteSize() {
        return gate.byteSize() + up.byteSize() + down.byteSize();
    }

    @Override
    public long weightBytes() {
        return byteSize();
    }
}
