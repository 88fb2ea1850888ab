package dev.dsv2.engine.cuda;

import dev.dsv2.engine.device.CudaDevice;
import dev.dsv2.engine.device.CudaProbe;
import jcuda.CudaException;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.JCudaDriver;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;

/**
 * Asks the CUDA driver (through JCuda's driver API) which devices exist. On a machine without the NVIDIA driver,
 * JCuda's native library cannot load ({@code UnsatisfiedLinkError: ... libcuda.so.1: cannot open shared object
 * file}) in the static initialiser of {@link JCudaDriver}, and every later use throws {@code NoClassDefFoundError}:
 * both are {@link LinkageError}s, caught here and turned into a reason a user can act on. Driver errors
 * ({@code CUDA_ERROR_NO_DEVICE}, {@code CUDA_ERROR_INSUFFICIENT_DRIVER}, ...) arrive as {@link CudaException}.
 * The answer is computed once per JVM.
 */
final class DriverProbe {
    private static volatile CudaProbe cached;

    private DriverProbe() {
    }

    static CudaProbe probe() {
        CudaProbe p = cached;
        if (p == null) {
            synchronized (DriverProbe.class) {
                if (cached == null) {
                    cached = probeOnce();
                }
                p = cached;
            }
        }
        return p;
    }

    private static CudaProbe probeOnce() {
        try {
            JCudaDriver.setExceptionsEnabled(true);
            cuInit(0);
            int[] count = new int[1];
            cuDeviceGetCount(count);
            if (count[0] == 0) {
                return CudaProbe.unavailable("the NVIDIA driver loaded but reports no CUDA device");
            }
            List<CudaDevice> devices = new ArrayList<>();
            for (int i = 0; i < count[0]; i++) {
                devices.add(describe(i));
            }
            return CudaProbe.of(devices);
        } catch (LinkageError e) {
            return CudaProbe.unavailable(linkageReason(e));
        } catch (CudaException e) {
            return CudaProbe.unavailable("the CUDA driver failed: " + e.getMessage());
        }
    }

    private static CudaDevice describe(int ordinal) {
        CUdevice dev = new CUdevice();
        cuDeviceGet(dev, ordinal);
        byte[] name = new byte[256];
        cuDeviceGetName(name, name.length, dev);
        int len = 0;
        while (len < name.length && name[len] != 0) {
            len++;
        }
        int[] major = new int[1];
        int[] minor = new int[1];
        cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
        cuDeviceGetAttribute(minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
        long[] total = new long[1];
        cuDeviceTotalMem(total, dev);
        long[] free = new long[1];
        long[] total2 = new long[1];
        CUcontext ctx = new CUcontext();
        cuDevicePrimaryCtxRetain(ctx, dev);
        try {
            cuCtxSetCurrent(ctx);
            cuMemGetInfo(free, total2);
        } finally {
            cuCtxSetCurrent(new CUcontext()); // no current context (JCuda rejects a Java null)
            cuDevicePrimaryCtxRelease(dev);
        }
        return new CudaDevice(ordinal, new String(name, 0, len, StandardCharsets.UTF_8), major[0], minor[0], total[0],
                free[0]);
    }

    /** What a failed native load means for the user (the JVM's message names the missing library). */
    static String linkageReason(LinkageError e) {
        String m = String.valueOf(e.getMessage());
        if (m.contains("libcuda.so")) {
            return "libcuda.so.1 not found (no NVIDIA driver on this machine, or not on the library path)";
        }
        if (e instanceof NoClassDefFoundError) {
            return "JCuda's driver API failed to load earlier in this process (" + firstLine(m) + ")";
        }
        return "JCuda's native driver library failed to load: " + firstLine(m);
    }

    private static String firstLine(String s) {
        int nl = s.indexOf('\n');
        return (nl < 0 ? s : s.substring(0, nl)).strip();
    }
}
