package dev.dsv2.engine.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A device loads the newest cubin of its major compute capability, else the PTX; pre-Ampere devices are refused. */
class KernelBinaryTest {

    private static final KernelBinary SM90 = new KernelBinary(KernelBinary.DIR + "gemm.sm_90.cubin", false);
    private static final KernelBinary SM80 = new KernelBinary(KernelBinary.DIR + "gemm.sm_80.cubin", false);
    private static final KernelBinary PTX = new KernelBinary(KernelBinary.DIR + "gemm.compute_80.ptx", true);

    @Test
    void picksTheCubinOfTheDeviceOrThePtx() {
        assertEquals(SM90, KernelBinary.forDevice("gemm", 9, 0));
        assertEquals(SM80, KernelBinary.forDevice("gemm", 8, 0));
        assertEquals(SM80, KernelBinary.forDevice("gemm", 8, 9));
        assertEquals(PTX, KernelBinary.forDevice("gemm", 10, 0));
        assertEquals(PTX, KernelBinary.forDevice("gemm", 12, 0));
    }

    @Test
    void refusesDevicesOlderThanAmpere() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> KernelBinary.forDevice("gemm", 7, 5));
        assertTrue(e.getMessage().contains("compute capability 7.5 is not supported"), e.getMessage());
    }

    @Test
    void artefactsLoadFromTheClassPathAndPtxIsNulTerminated() {
        byte[] cubin = KernelBinary.forDevice("mla_decode", 9, 0).load();
        assertEquals(0x7f, cubin[0]);
        assertEquals('E', cubin[1]);   // an ELF image
        byte[] ptx = KernelBinary.forDevice("mla_decode", 10, 0).load();
        assertEquals(0, ptx[ptx.length - 1]);
        assertTrue(new String(ptx, 0, ptx.length - 1).contains(".entry mla_decode_partial("));
    }
}
