package dev.dsv2.engine.cuda;

import dev.dsv2.engine.device.CudaDevice;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;

import java.util.HashMap;
import java.util.Map;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

/**
 * The kernel runner: the device's primary context, made current on the calling thread, with every kernel module
 * loaded from the artefact matching the device ({@link KernelBinary}), and {@link #launch} to run a kernel by name.
 * Kernel arguments are {@link DeviceBuffer}s (passed as device pointers), {@link Integer}s, {@link Float}s and
 * {@link Double}s, in the order of the kernel's C signature. Not thread-safe; close on the thread that opened it.
 */
final class CudaContext implements AutoCloseable {
    private final CudaDevice device;
    private final CUdevice dev = new CUdevice();
    private final CUcontext ctx = new CUcontext();
    private final Map<String, CUmodule> modules = new HashMap<>();
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final Map<String, String> loadedFrom = new HashMap<>();

    CudaContext(CudaDevice device) {
        this.device = device;
        jcuda.driver.JCudaDriver.setExceptionsEnabled(true);
        cuDeviceGet(dev, device.ordinal());
        cuDevicePrimaryCtxRetain(ctx, dev);
        cuCtxSetCurrent(ctx);
        try {
            for (String m : KernelBinary.MODULES) {
                KernelBinary bin = KernelBinary.forDevice(m, device.computeMajor(), device.computeMinor());
                CUmodule module = new CUmodule();
                cuModuleLoadData(module, bin.load());
                modules.put(m, module);
                loadedFrom.put(m, bin.resource());
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    CudaDevice device() {
        return device;
    }

    /** Module name -> the artefact it was loaded from (cubin or PTX), for reports. */
    Map<String, String> loadedFrom() {
        return Map.copyOf(loadedFrom);
    }

    private CUfunction function(String module, String kernel) {
        return functions.computeIfAbsent(kernel, k -> {
            CUmodule mod = modules.get(module);
            if (mod == null) {
                throw new IllegalArgumentException("no kernel module " + module);
            }
            CUfunction f = new CUfunction();
            cuModuleGetFunction(f, mod, k);
            return f;
        });
    }

    /** Launches {@code module/kernel} on the default stream with the given grid and block; does not wait. */
    void launch(String module, String kernel, int[] grid, int[] block, Object... args) {
        NativePointerObject[] params = new NativePointerObject[args.length];
        for (int i = 0; i < args.length; i++) {
            params[i] = switch (args[i]) {
                case DeviceBuffer b -> Pointer.to(b.ptr());
                case CUdeviceptr p -> Pointer.to(p);
                case Integer v -> Pointer.to(new int[]{v});
                case Float v -> Pointer.to(new float[]{v});
                case Double v -> Pointer.to(new double[]{v});
                case null -> throw new IllegalArgumentException(kernel + ": argument " + i + " is null");
                default -> throw new IllegalArgumentException(kernel + ": argument " + i + " has unsupported type "
                        + args[i].getClass().getSimpleName());
            };
        }
        cuLaunchKernel(function(module, kernel), grid[0], grid[1], grid[2], block[0], block[1], block[2], 0, null,
                Pointer.to(params), null);
    }

    /**
     * Makes this context current on the calling thread. The backend calls it on entry to every operation, so that
     * whichever (one at a time) thread runs a workspace's forward pass launches into this context.
     */
    void makeCurrent() {
        cuCtxSetCurrent(ctx);
    }

    /** {@code {free, total}} bytes of device memory (cuMemGetInfo). */
    long[] memoryInfo() {
        long[] free = new long[1];
        long[] total = new long[1];
        cuMemGetInfo(free, total);
        return new long[]{free[0], total[0]};
    }

    /** Waits for every launched kernel; a kernel fault surfaces here as a CudaException. */
    void synchronize() {
        cuCtxSynchronize();
    }

    @Override
    public void close() {
        for (CUmodule m : modules.values()) {
            cuModuleUnload(m);
        }
        modules.clear();
        functions.clear();
        cuCtxSetCurrent(new CUcontext()); // no current context (JCuda rejects a Java null)
        cuDevicePrimaryCtxRelease(dev);
    }
}
