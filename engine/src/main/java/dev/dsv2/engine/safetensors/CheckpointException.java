package dev.dsv2.engine.safetensors;

/**
 * A checkpoint or safetensors file the engine cannot use. Every message names the file, the tensor where one
 * is involved, and what was expected versus what was found, so that a user can act on it without a debugger.
 */
public final class CheckpointException extends RuntimeException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
