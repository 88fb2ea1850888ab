package dev.dsv2.engine.cuda;

import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

/**
 * Runs the GPU test classes without Maven (gpu/run.sh on a GPU machine with no internet):
 * {@code java -cp ... dev.dsv2.engine.cuda.GpuTestMain OUT_JSON}. Writes the counts and failures as JSON; exits 0
 * only when every test ran and passed (a skipped test means no device was found, which on a GPU machine is a failure).
 */
public final class GpuTestMain {
    static final Class<?>[] GPU_TESTS = {KernelSelfCheckGpuTest.class, CudaBackendOpsGpuTest.class,
            CudaForwardGpuTest.class};

    private GpuTestMain() {
    }

    public static void main(String[] args) throws Exception {
        LauncherDiscoveryRequestBuilder b = LauncherDiscoveryRequestBuilder.request();
        for (Class<?> c : GPU_TESTS) {
            b.selectors(selectClass(c));
        }
        LauncherDiscoveryRequest request = b.build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        launcher.execute(request, listener);
        TestExecutionSummary s = listener.getSummary();
        s.printTo(new PrintWriter(System.err, true, StandardCharsets.UTF_8));
        s.printFailuresTo(new PrintWriter(System.err, true, StandardCharsets.UTF_8), 20);
        StringBuilder failures = new StringBuilder();
        for (TestExecutionSummary.Failure f : s.getFailures()) {
            failures.append(failures.isEmpty() ? "" : ",").append('"')
                    .append(json(f.getTestIdentifier().getDisplayName() + ": " + f.getException())).append('"');
        }
        boolean ok = s.getTotalFailureCount() == 0 && s.getTestsSkippedCount() == 0 && s.getTestsFoundCount() > 0
                && s.getTestsAbortedCount() == 0;
        String out = String.format("{\"ok\":%s,\"found\":%d,\"succeeded\":%d,\"failed\":%d,\"skipped\":%d,"
                        + "\"aborted\":%d,\"failures\":[%s]}%n", ok, s.getTestsFoundCount(), s.getTestsSucceededCount(),
                s.getTestsFailedCount(), s.getTestsSkippedCount(), s.getTestsAbortedCount(), failures);
        if (args.length > 0) {
            Files.writeString(Path.of(args[0]), out);
        }
        System.out.print(out);
        System.exit(ok ? 0 : 1);
    }

    private static String json(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n").replace("\t", " ");
    }
}
