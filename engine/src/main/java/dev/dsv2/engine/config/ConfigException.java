package dev.dsv2.engine.config;

/** A config.json value the engine cannot run, or a malformed config; the message names file, field and value. */
public final class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message);
    }
}
