package dev.dsv2.engine.model;

import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.Buffer;
import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.Weight;

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
    public void forward(Backend be, Buffer x, int rows, Buffer out, Workspace ws) {
        int d = gate.cols();
        be.zero(out, 0, (long) rows * d);
        ExpertGroups groups = ws.expertGroups().clear().addGroup(gate, up, down);
        for (int r = 0; r < rows; r++) {
            groups.addRow(r, 1f);
        }
        be.swiGlu(groups, x, out);
    }

    public long byteSize() {
        return gate.byteSize() + up.byteSize() + down.byteSize();
    }

    @Override
    public long weightBytes() {
        return byteSize();
    }
}
