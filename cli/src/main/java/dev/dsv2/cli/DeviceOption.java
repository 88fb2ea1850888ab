package dev.dsv2.cli;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.device.DeviceChoice;
import dev.dsv2.engine.device.DeviceRequest;
import dev.dsv2.engine.device.DeviceSelector;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

import java.util.function.Supplier;

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
            description = "auto | cpu | cuda | cuda:N (default ${DEFAULT-VALUE}). The model runs on the CPU today: "
                    + "auto says why it did not use a GPU; cuda checks the CUDA kernels, then refuses (the CUDA "
                    + "forward path is not implemented yet).")
    DeviceRequest request = DeviceRequest.AUTO;

    /** Chooses the device (printing the choice once, for auto) or throws when an explicit cuda cannot run. */
    DeviceChoice select(Supplier<ModelConfig> config) {
        DeviceChoice choice = DeviceSelector.fromClassPath().select(request, config);
        if (request.kind() == DeviceRequest.Kind.AUTO) {
            System.err.println("dsv2: " + choice.describe());
        }
        return choice;
    }
}
