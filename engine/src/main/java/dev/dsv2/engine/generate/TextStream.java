package dev.dsv2.engine.generate;

/**
 * Streaming detokenisation as the generation loop needs it (the tokenizer module implements it): each generated id
 * yields the text it completes, never a broken UTF-8 sequence; {@link #flush()} returns what is still pending.
 */
public interface TextStream {
    String append(int tokenId);

    String flush();
}
