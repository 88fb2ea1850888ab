package dev.dsv2.engine.device;

/**
 * The requested device cannot run the model; the message names what is missing and what to do instead, and is
 * meant to be shown to the user as is (no stack trace).
 */
public final class DeviceUnavailableException extends RuntimeException {
    public DeviceUnavailableException(String message) {
        super(message, null, false, false);
    }
}
