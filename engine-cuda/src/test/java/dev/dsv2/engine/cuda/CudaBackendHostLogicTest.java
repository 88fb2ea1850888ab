package dev.dsv2.engine.cuda;

import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.MlaShape;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.tensor.DType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host-side logic of the CUDA backend, which runs without a GPU: weights found by host address (row slices
 * inside an upload), metadata packed for one copy, which weights the kernels refuse, the split-K split count, the
 * one-launch form of the per-head MLA projections, and the runs of equal-size expert groups.
 */
class CudaBackendHostLogicTest {

    private static Weight bf16(String name, int rows, int cols) {
        return new Weight(name, DType.BF16, rows, cols, MemorySegment.ofArray(new short[rows * cols]));
    }

    @Test
    void aRowSliceIsFoundInsideItsUploadAtItsByteOffset() {
        UploadRanges<String> r = new UploadRanges<>();
        r.add(1000, 400, "kv_b");
        r.add(2000, 100, "o_proj");
        UploadRanges.Hit<String> hit = r.find(1128, 64);
        assertEquals("kv_b", hit.upload().value());
        assertEquals(128, hit.offset());
        assertEquals(0, r.find(2000, 100).offset());
        assertNull(r.find(1350, 100), "runs past the end of kv_b");
        assertNull(r.find(900, 10), "below every upload");
        assertNull(r.find(1500, 10), "between uploads");
        assertEquals(500, r.bytes());
        assertThrows(IllegalArgumentException.class, () -> r.add(1300, 200, "overlapping"));
    }

    @Test
    void uploadsOfAClosedMappingAreForgottenSoANewMappingAtTheSameAddressIsUploadedAgain() {
        UploadRanges<MemorySegment> r = new UploadRanges<>();
        Arena model = Arena.ofShared();
        MemorySegment mapped = model.allocate(64);
        MemorySegment kept = Arena.ofAuto().allocate(32);
        r.add(mapped.address(), 64, mapped);
        r.add(kept.address(), 32, kept);
        assertEquals(0, r.removeIf(s -> !s.scope().isAlive()).size());
        model.close();
        var gone = r.removeIf(s -> !s.scope().isAlive());
        assertEquals(1, gone.size());
        assertEquals(mapped.address(), gone.getFirst().address());
        assertNull(r.find(mapped.address(), 64));
        assertEquals(32, r.bytes());
    }

    @Test
    void metadataIsPackedBackToBackForOneCopy() {
        IntPack p = new IntPack();
        assertEquals(0, p.add(new int[]{4, 2, 9}, 2));
        assertEquals(2, p.add(new int[]{0, 3, 7}, 3));
        int big = p.add(new int[1000], 1000);
        assertEquals(5, big);
        assertEquals(1005, p.size());
        assertArrayEquals(new int[]{4, 2, 0, 3, 7}, Arrays.copyOf(p.array(), 5));
        assertEquals(0, p.clear().size());
        assertThrows(IllegalArgumentException.class, () -> p.add(new int[2], 3));
    }

    @Test
    void int8AndNonBf16WeightsAreRefusedWithOneClearLine() {
        Weight w = bf16("model.layers.0.mlp.gate_proj.weight", 8, 16);
        assertNull(DeviceWeights.unsupported(w, false));
        assertEquals("--weights int8 is not supported on cuda yet (the CUDA kernels take bf16 weights as stored; use "
                + "--weights bf16, or --device cpu for int8)", DeviceWeights.unsupported(w, true));
        Weight f32 = new Weight("x", DType.F32, 2, 8, MemorySegment.ofArray(new float[16]));
        assertEquals("the CUDA kernels take bf16 weights; x is F32", DeviceWeights.unsupported(f32, false));
        assertTrue(DeviceWeights.unsupported(bf16("odd", 2, 12), false).contains("multiple of 8"));
    }

    @Test
    void splitKCoversTheLongestRowInChunksOf256() {
        assertEquals(1, CudaAttention.splits(new int[]{0, 1}, 1));
        assertEquals(1, CudaAttention.splits(new int[]{0, 256, 300}, 2));
        assertEquals(2, CudaAttention.splits(new int[]{0, 257}, 1));
        assertEquals(4, CudaAttention.splits(new int[]{0, 10, 10 + 1000, 1020}, 3));
    }

    @Test
    void perHeadProjectionsAreOneLaunchOnlyWhenTheyAreConsecutiveRowsOfKvB() {
        MlaShape s = new MlaShape(2, 4, 2, 3, 8, 1f); // dn 4, dv 3, Ckv 8: a head is 7 rows of 16 bytes
        long base = 4096;
        long[] uk = {base, base + 7 * 16};
        long[] uv = {base + 4 * 16, base + 7 * 16 + 4 * 16};
        assertTrue(CudaAttention.oneMatrix(s, uk, uv));
        assertFalse(CudaAttention.oneMatrix(s, uk, new long[]{uv[0], uv[1] + 16}));
        assertFalse(CudaAttention.oneMatrix(s, new long[]{base, 99999}, uv));
    }

    @Test
    void expertGroupsRunInRunsOfEqualIntermediateSizeInTheirOrder() {
        ExpertGroups g = new ExpertGroups();
        Weight sharedGate = bf16("shared", 32, 16);
        Weight routedGate = bf16("routed", 8, 16);
        Weight sharedDown = bf16("shared.down", 16, 32);
        Weight routedDown = bf16("routed.down", 16, 8);
        g.addGroup(sharedGate, sharedGate, sharedDown).addRow(0, 1f);
        g.addGroup(routedGate, routedGate, routedDown).addRow(0, 0.5f);
        g.addGroup(routedGate, routedGate, routedDown).addRow(1, 0.5f);
        assertArrayEquals(new int[]{0, 1, 3}, CudaExperts.runsOfEqualSize(g));
        assertSame(routedGate, g.gate(2));
    }
}
