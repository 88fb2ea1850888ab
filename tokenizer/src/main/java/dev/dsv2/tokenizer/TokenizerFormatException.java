package dev.dsv2.tokenizer;

import java.io.IOException;

/**
 * A {@code tokenizer.json} or {@code tokenizer_config.json} that cannot be used: malformed JSON, a missing or
 * mistyped field, or a component this implementation does not support. The message names the file, the
 * field and the offending value, and says what was expected.
 */
public final class TokenizerFormatException extends IOException {
    public TokenizerFormatException(String message) {
        super(message);
    }

    public TokenizerFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
