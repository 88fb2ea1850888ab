package dev.dsv2.engine.kernel.cpu;

import dev.dsv2.engine.kernel.Weight;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Logger;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The native int8 matrix-vector kernel ({@code engine/src/main/c/dsv2_cpu.c}, AVX512-VNNI {@code vpdpbusd}), bound
 * through the FFM API: the bundled {@code libdsv2cpu.so} is extracted to a temporary file once and its two functions
 * called with {@link Linker.Option#critical critical} downcalls that take heap arrays directly (no copies) and the
 * weights' mapped segments by address.
 *
 * <p>{@link #quantize} rounds activation rows to int8 codes per block of 32 (scale {@code max|x| / 127}, round to
 * nearest even; llama.cpp's Q8_0 activations); {@link #rows} multiplies int8 weight rows by such rows: per block an
 * exact int32 dot product (|x| as unsigned bytes times the weight codes carrying x's sign), converted to float and
 * scaled by the weight's and the activation's block scales, accumulated in float.
 *
 * <p>This class also loads the library for {@link NativeBf16} (bf16 weights, AVX512_BF16 {@code vdpbf16ps}), whose
 * downcalls it binds alongside its own: {@code dsv2.cpu-kernels=native} runs both, so it needs what both use.
 *
 * <p>Availability ({@link #unavailableReason}) is checked once: Linux on x86-64, the CPU flags avx512f, avx512bw,
 * avx512vl, avx512_vnni and avx512_bf16 in {@code /proc/cpuinfo} (a CPU with VNNI but no BF16 is refused, naming
 * avx512_bf16, before the library is loaded), the library loads and speaks this interface version.
 */
public final class NativeInt8 {
    /** The bundled library, a class-path resource. */
    static final String RESOURCE = "/dev/dsv2/engine/native/linux-x86_64/libdsv2cpu.so";
    /** The CPU flags the library's code needs ({@code /proc/cpuinfo} names). */
    static final List<String> CPU_FLAGS = List.of("avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16");
    private static final int ABI_VERSION = 2;
    private static final int B = Weight.INT8_BLOCK;

    private static final String UNAVAILABLE;
    /** Whether {@link #autoAvailable} has logged that int8 products run on the Java kernels. */
    private static final AtomicBoolean AUTO_LOGGED = new AtomicBoolean();
    private static final MethodHandle QUANTIZE;
    private static final MethodHandle ROWS;
    /** {@link NativeBf16}'s downcalls: {@code dsv2_bf16_round_rows}, {@code dsv2_bf16_rows}; null when unavailable. */
    static final MethodHandle BF16_ROUND;
    static final MethodHandle BF16_ROWS;

    static {
        String reason = null;
        MethodHandle quantize = null;
        MethodHandle rows = null;
        MethodHandle bf16Round = null;
        MethodHandle bf16Rows = null;
        try {
            reason = platformProblem();
            if (reason == null) {
                Path file = extract();
                SymbolLookup lib;
                try {
                    lib = SymbolLookup.libraryLookup(file, Arena.global());
                } finally {
                    Files.deleteIfExists(file); // loaded (mapped) or failed: either way no longer needed on disk
                }
                Linker linker = Linker.nativeLinker();
                Linker.Option heap = Linker.Option.critical(true);
                int abi = (int) linker.downcallHandle(symbol(lib, "dsv2_cpu_abi_version"),
                        FunctionDescriptor.of(JAVA_INT)).invokeExact();
                if (abi != ABI_VERSION) {
                    reason = RESOURCE + " has interface version " + abi + ", this engine needs " + ABI_VERSION;
                } else {
                    quantize = linker.downcallHandle(symbol(lib, "dsv2_quantize_rows"), FunctionDescriptor.ofVoid(
                            ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS,
                            JAVA_LONG), heap);
                    rows = linker.downcallHandle(symbol(lib, "dsv2_int8_rows"), FunctionDescriptor.ofVoid(ADDRESS,
                            ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG,
                            JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_INT), heap);
                    bf16Round = linker.downcallHandle(symbol(lib, "dsv2_bf16_round_rows"), FunctionDescriptor.ofVoid(
                            ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG), heap);
                    bf16Rows = linker.downcallHandle(symbol(lib, "dsv2_bf16_rows"), FunctionDescriptor.ofVoid(
                            ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS,
                            JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT), heap);
                }
            }
        } catch (Throwable t) {
            reason = "loading " + RESOURCE + " failed: " + t;
        }
        UNAVAILABLE = reason;
        QUANTIZE = reason == null ? quantize : null;
        ROWS = reason == null ? rows : null;
        BF16_ROUND = reason == null ? bf16Round : null;
        BF16_ROWS = reason == null ? bf16Rows : null;
    }

    /** Each thread's segments over the arrays it passed last, so that a decode step's calls allocate nothing. */
    static final ThreadLocal<HeapSegments> SEGMENTS = ThreadLocal.withInitial(HeapSegments::new);

    private NativeInt8() {
    }

    /**
     * Heap segments over the last few arrays of each kind a thread passed ({@code MemorySegment.ofArray} allocates a
     * segment object per call, which the JIT does not remove around a downcall): the activation codes and scales are
     * the calling thread's growable scratch and the inputs and outputs a few workspace buffers, so a small cache hits
     * (with bf16 weights every projection of a decode step runs natively, passing more distinct workspace arrays per
     * thread: 4 and 8 ways per kind thrashed, ~5 KB and ~2 KB of segments per batch-1 step on lite-layers:4 against
     * the Java kernels' 0.5 KB; 16 ways allocate nothing more). Kinds: 0 codes (byte[]),
     * 1 scales (float[]), 2 outputs (float[]), 3 bf16 activations (short[]), 4 float activations (float[]).
     */
    static final class HeapSegments {
        private static final int WAYS = 16;
        private static final int KINDS = 5;
        private final Object[] arrays = new Object[KINDS * WAYS];
        private final MemorySegment[] segments = new MemorySegment[KINDS * WAYS];
        private int next;

        MemorySegment of(Object array, int kind) {
            int base = kind * WAYS;
            for (int i = base; i < base + WAYS; i++) {
                if (arrays[i] == array) {
                    return segments[i];
                }
            }
            int i = base + (next++ & (WAYS - 1));
            arrays[i] = array;
            segments[i] = switch (array) {
                case byte[] b -> MemorySegment.ofArray(b);
                case short[] h -> MemorySegment.ofArray(h);
                default -> MemorySegment.ofArray((float[]) array);
            };
            return segments[i];
        }
    }

    /** Null when the native kernels can run here; otherwise one line saying what is missing. */
    public static String unavailableReason() {
        return UNAVAILABLE;
    }

    /** @throws IllegalStateException with {@link #unavailableReason} when the native kernels cannot run here */
    public static void require() {
        if (UNAVAILABLE != null) {
            throw new IllegalStateException("native CPU kernels (dsv2.cpu-kernels=native) are unavailable: "
                    + UNAVAILABLE);
        }
    }

    /**
     * Whether {@code dsv2.cpu-kernels=auto} runs int8 weights' products natively here: true where the native kernels
     * can run; otherwise false, and the first call logs (INFO) that int8 products run on the Java kernels and why.
     */
    public static boolean autoAvailable() {
        if (UNAVAILABLE == null) {
            return true;
        }
        if (!AUTO_LOGGED.getAndSet(true)) {
            Logger.getLogger(NativeInt8.class.getName()).info(() -> "dsv2.cpu-kernels=auto: int8 weights' products "
                    + "run on the Java kernels, the native ones are unavailable: " + UNAVAILABLE);
        }
        return false;
    }

    /** Why this platform cannot run the library (OS, architecture, CPU flags, vector width), or null. */
    static String platformProblem() throws IOException {
        String os = System.getProperty("os.name", "");
        String arch = System.getProperty("os.arch", "");
        if (!os.toLowerCase(Locale.ROOT).startsWith("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            return "the native library is built for linux-x86_64, this is " + os + " on " + arch;
        }
        Path cpuinfo = Path.of("/proc/cpuinfo");
        if (!Files.isReadable(cpuinfo)) {
            return "cannot read /proc/cpuinfo to check for " + String.join(", ", CPU_FLAGS);
        }
        String flags = Files.readAllLines(cpuinfo).stream().filter(l -> l.startsWith("flags")).findFirst()
                .orElse("");
        String lacking = missingFlags(Set.of(flags.substring(flags.indexOf(':') + 1).trim().split("\\s+")));
        if (lacking != null) {
            return lacking;
        }
        if (B % MatVecKernels.P != 0) {
            return "the pair blocks of " + MatVecKernels.P + " float lanes do not divide the int8 blocks of " + B;
        }
        return null;
    }

    /**
     * Null when the CPU flags {@code have} ({@code /proc/cpuinfo} names) include every one of {@link #CPU_FLAGS};
     * otherwise the refusal naming the missing ones (e.g. {@code avx512_bf16} on a CPU with VNNI but no BF16).
     */
    static String missingFlags(Set<String> have) {
        List<String> missing = new ArrayList<>();
        for (String f : CPU_FLAGS) {
            if (!have.contains(f)) {
                missing.add(f);
            }
        }
        return missing.isEmpty() ? null : "this CPU lacks " + String.join(", ", missing) + " (the native kernels need "
                + String.join(", ", CPU_FLAGS) + ")";
    }

    private static Path extract() throws IOException {
        try (InputStream in = NativeInt8.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IOException(RESOURCE + " is not on the class path");
            }
            Path tmp = Files.createTempFile("libdsv2cpu", ".so");
            try {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException e) {
                Files.deleteIfExists(tmp);
                throw e;
            }
            return tmp;
        }
    }

    private static MemorySegment symbol(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new IllegalStateException(RESOURCE + " has no symbol " + name));
    }

    /** Codes {@code m · n} bytes and scales {@code m · n / 32} floats that {@link #quantize} writes for m rows. */
    static int scaleCount(int m, int n) {
        return m * (n / B);
    }

    /**
     * Quantizes {@code m} activation rows {@code x[xOff + b·xStride, + n)} ({@code n} a multiple of 32; in pair order
     * when {@code pairOrder}, else natural) into codes {@code q[qOff + b·n, + n)} in natural order and scales
     * {@code qs[qsOff + b·n / 32, + n / 32)}.
     */
    static void quantize(float[] x, int xOff, int xStride, int m, int n, boolean pairOrder, byte[] q, int qOff,
                         float[] qs, int qsOff) {
        if (m <= 0) {
            return;
        }
        Objects.checkFromIndexSize(xOff, (long) (m - 1) * xStride + n, x.length);
        Objects.checkFromIndexSize(qOff, m * n, q.length);
        Objects.checkFromIndexSize(qsOff, scaleCount(m, n), qs.length);
        HeapSegments seg = SEGMENTS.get();
        try {
            QUANTIZE.invokeExact(seg.of(x, 4), (long) xOff, (long) xStride, m, n, pairOrder ? Lanes.L : 0,
                    seg.of(q, 0), (long) qOff, seg.of(qs, 1), (long) qsOff);
        } catch (Throwable t) {
            throw new IllegalStateException("native int8 quantization failed: " + t, t);
        }
    }

    /**
     * Rows {@code [r0, r1)} of int8 {@code w} times {@code m} quantized activation rows (codes
     * {@code xq[xqOff + b·cols, + cols)}, scales {@code xs[xsOff + b·cols / 32, + cols / 32)}), with the output
     * contract of {@link MatVecKernels#rows}: row r times row b goes to {@code out[outOff + b·outStride + pos(r)]}.
     */
    static void rows(Weight w, int r0, int r1, byte[] xq, int xqOff, float[] xs, int xsOff, int m, float[] out,
                     int outOff, int outStride, boolean pairOut) {
        if (m <= 0 || r1 <= r0) {
            return;
        }
        int n = w.cols();
        int p = MatVecKernels.P;
        Objects.checkFromToIndex(r0, r1, w.rows());
        Objects.checkFromIndexSize(xqOff, m * n, xq.length);
        Objects.checkFromIndexSize(xsOff, scaleCount(m, n), xs.length);
        int lo = outOff + (pairOut ? r0 / p * p : r0);
        long hi = outOff + (long) (m - 1) * outStride + (pairOut ? Math.min(w.rows(), (r1 + p - 1) / p * p) : r1);
        Objects.checkFromToIndex(lo, (int) Math.min(hi, Integer.MAX_VALUE), out.length);
        HeapSegments seg = SEGMENTS.get();
        try {
            ROWS.invokeExact(w.data(), w.scales(), w.rows(), n, r0, r1, seg.of(xq, 0), (long) xqOff, seg.of(xs, 1),
                    (long) xsOff, m, seg.of(out, 2), (long) outOff, (long) outStride, pairOut ? Lanes.L : 0);
        } catch (Throwable t) {
            throw new IllegalStateException("native int8 kernel failed on " + w.name() + ": " + t, t);
        }
    }
}
