package dev.dsv2.gateway.openai;

/** The two generation endpoints of the OpenAI API, with their ids, object names and metrics label. */
public enum Endpoint {
    CHAT("/v1/chat/completions", "chat", "chatcmpl-", "chat.completion", "chat.completion.chunk"),
    COMPLETIONS("/v1/completions", "completions", "cmpl-", "text_completion", "text_completion");

    private final String path;
    private final String api;
    private final String idPrefix;
    private final String object;
    private final String chunkObject;

    Endpoint(String path, String api, String idPrefix, String object, String chunkObject) {
        this.path = path;
        this.api = api;
        this.idPrefix = idPrefix;
        this.object = object;
        this.chunkObject = chunkObject;
    }

    /** The URL path, as the Batch API's {@code url} names it too. */
    public String path() {
        return path;
    }

    /** The {@code api} label of the request metrics. */
    public String api() {
        return api;
    }

    public String idPrefix() {
        return idPrefix;
    }

    public String object() {
        return object;
    }

    public String chunkObject() {
        return chunkObject;
    }

    /** The endpoint serving {@code path}, or null. */
    public static Endpoint ofPath(String path) {
        for (Endpoint e : values()) {
            if (e.path.equals(path)) {
                return e;
            }
        }
        return null;
    }
}
