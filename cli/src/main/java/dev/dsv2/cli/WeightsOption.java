package dev.dsv2.cli;

import dev.dsv2.engine.model.WeightFormat;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/**
 * {@code --weights bf16|int8} of the commands that run the model: a bad value is a usage error naming the value and
 * the accepted ones ({@link WeightFormat#parse}).
 */
public final class WeightsOption {

    static final class Converter implements ITypeConverter<WeightFormat> {
        @Override
        public WeightFormat convert(String value) {
            try {
                return WeightFormat.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    @Option(names = "--weights", defaultValue = "bf16", paramLabel = "bf16|int8", converter = Converter.class,
            description = "Matrix weights as stored (bf16, the default) or int8 (one bf16 scale per 32 values; "
                    + "quantized at load time unless the checkpoint is int8 already, which always runs as int8).")
    WeightFormat format = WeightFormat.BF16;
}
