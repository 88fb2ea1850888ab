package dev.dsv2.tokenizer;

/**
 * Rendering a chat template failed: the template called {@code raise_exception(message)} (for example on an
 * unknown role), or it has a syntax or evaluation error, or the tokenizer has no chat template at all. The
 * message carries the template's own text, e.g. {@code "chat template raised: Unknown role: moderator"}.
 * Unchecked, because it describes bad request input (the messages) as often as a bad template.
 */
public final class ChatTemplateException extends RuntimeException {
    public ChatTemplateException(String message) {
        super(message);
    }

    public ChatTemplateException(String message, Throwable cause) {
        super(message, cause);
    }
}
