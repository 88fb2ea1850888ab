package dev.dsv2.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.device.CudaDevice;
import dev.dsv2.engine.device.CudaSupport;
import dev.dsv2.engine.device.DeviceRequest;
import dev.dsv2.engine.device.DeviceSelector;
import dev.dsv2.engine.device.DeviceUnavailableException;
import dev.dsv2.engine.device.SelfCheckReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code ./dsv2 selfcheck --device cuda[:N] [--model DIR | --preset NAME] [--json]}: runs every CUDA kernel once on
 * random inputs of the model's real shapes and compares it with the CPU backend (the check {@code --device cuda}
 * runs before anything else). Exit 0 when every kernel is within its tolerance, 1 otherwise or without a GPU.
 */
@Command(name = "selfcheck", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Check every CUDA kernel against the CPU backend on random inputs of the model's shapes.")
public final class SelfcheckCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    DeviceOption device;

    @Option(names = "--model", paramLabel = "DIR", description = "Take the shapes from this checkpoint's config.json.")
    Path model;

    @Option(names = "--preset", paramLabel = "NAME", description = "Take the shapes from a preset (default "
            + "lite-layers:1, DeepSeek-V2-Lite's dimensions; valid: " + ModelPresets.VALID_NAMES + ").")
    String preset;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the random inputs (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--json", description = "Print one JSON object: device, passed, kernels[{kernel, shape, error, "
            + "tolerance, passed, detail}].")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (device.request.kind() != DeviceRequest.Kind.CUDA) {
            throw new ParameterException(spec.commandLine(), "selfcheck checks the CUDA kernels: --device must be "
                    + "cuda or cuda:N, got " + device.request);
        }
        if (model != null && preset != null) {
            throw new ParameterException(spec.commandLine(), "give either --model or --preset, not both");
        }
        ModelConfig config = model != null ? ModelConfig.load(model)
                : ModelPresets.preset(preset == null ? "lite-layers:1" : preset);
        CudaSupport cuda = DeviceSelector.loadCudaSupport();
        CudaDevice d = new DeviceSelector(cuda).device(device.request);
        SelfCheckReport report = cuda.selfCheck(d, config, seed);
        System.out.print(json ? toJson(report) : toTable(report));
        System.out.flush();
        if (!report.passed()) {
            throw new DeviceUnavailableException(d.describe() + " failed the kernel self-check: "
                    + report.firstFailure());
        }
        return 0;
    }

    static String toTable(SelfCheckReport r) {
        StringBuilder b = new StringBuilder("self-check on " + r.device().describe() + "\n");
        for (SelfCheckReport.KernelResult k : r.kernels()) {
            b.append(String.format("  %-4s %-42s error %.3g (tolerance %.0e)  %s; %s%n", k.passed() ? "ok" : "FAIL",
                    k.kernel(), k.error(), k.tolerance(), k.shape(), k.detail()));
        }
        b.append(r.passed() ? "all kernels agree with the CPU backend\n" : "FAILED\n");
        return b.toString();
    }

    static String toJson(SelfCheckReport r) throws Exception {
        ObjectMapper json = new ObjectMapper();
        ObjectNode o = json.createObjectNode();
        o.put("device", r.device().describe());
        o.put("passed", r.passed());
        ArrayNode ks = o.putArray("kernels");
        for (SelfCheckReport.KernelResult k : r.kernels()) {
            ks.addObject().put("kernel", k.kernel()).put("shape", k.shape()).put("error", k.error())
                    .put("tolerance", k.tolerance()).put("passed", k.passed()).put("detail", k.detail());
        }
        return json.writeValueAsString(o) + "\n";
    }
}
