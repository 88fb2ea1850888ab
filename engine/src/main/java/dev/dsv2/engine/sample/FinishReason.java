package dev.dsv2.engine.sample;

/** Why a request stopped generating, with the names the OpenAI API ({@code finish_reason}) and vLLM use. */
public enum FinishReason {
    /** EOS, a stop token id or a stop string. */
    STOP("stop"),
    /** {@code max_tokens} reached, or the context limit. */
    LENGTH("length"),
    /** The client cancelled or disconnected. */
    ABORT("abort"),
    /** The engine failed while serving the request. */
    ERROR("error");

    private final String openAiName;

    FinishReason(String openAiName) {
        this.openAiName = openAiName;
    }

    public String openAiName() {
        return openAiName;
    }

    /** The reason named {@code name} as {@link #openAiName()} spells it. */
    public static FinishReason fromOpenAiName(String name) {
        for (FinishReason reason : values()) {
            if (reason.openAiName.equals(name)) {
                return reason;
            }
        }
        throw new IllegalArgumentException("finish_reason must be one of stop, length, abort, error, got " + name);
    }
}
