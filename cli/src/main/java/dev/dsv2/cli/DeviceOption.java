package dev.dsv2.cli;

import dev.dsv2.engine.device.DeviceChoice;
import dev.dsv2.engine.device.DeviceRequest;
import dev.dsv2.engine.device.DeviceSelector;
import dev.dsv2.engine.model.WeightFormat;
import dev.dsv2.engine.serve.ServingSettings;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

import java.nio.file.Path;

/**
 * {@code --device auto|cpu|cuda|cuda:N} of the commands that run the model. The selection itself is the engine's
 * ({@link DeviceSelector}); this prints its one line (for {@code auto}: why it is the CPU) to stderr. An explicit
 * {@code cuda} that cannot run throws {@link dev.dsv2.engine.device.DeviceUnavailableException}, which the CLI
 * prints as one error line with a non-zero exit code.
 */
public final class DeviceOption {

    /** picocli converter: a bad value is a usage error naming the value and the accepted forms. */
    static final class Converter implements ITypeConverter<DeviceRequest> {
        @Override
        public DeviceRequest convert(String value) {
            try {
                return DeviceRequest.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    @Option(names = "--device", paramLabel = "D", defaultValue = "auto", converter = Converter.class,
            description = "auto | cpu | cuda | cuda:N (default ${DEFAULT-VALUE}). cuda runs the kernel self-check and "
                    + "a model parity probe against the CPU before the model runs on the GPU, and fails naming what "
                    + "is missing or which check refused; auto uses the GPU when both pass, else the CPU and says "
                    + "why (selfcheck runs only the kernel self-check). The CUDA path has not yet run on GPU hardware.")
    DeviceRequest request = DeviceRequest.AUTO;

    /**
     * Chooses the device for the model in {@code dir} with weights {@code format} (printing the choice once, for
     * auto) or throws when an explicit cuda cannot run; the choice carries the checked device backend, if any.
     */
    DeviceChoice select(Path dir, WeightFormat format) {
        DeviceChoice choice = ServingSettings.fromSystem().withDevice(request).withWeights(format).selectDevice(dir);
        if (request.kind() == DeviceRequest.Kind.AUTO) {
            System.err.println("dsv2: " + choice.describe());
        }
        return choice;
    }
}
