package dev.dsv2.engine.generate;

import dev.dsv2.engine.cache.CacheSequence;
import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.model.AttentionMode;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.model.ForwardBatch;
import dev.dsv2.engine.model.Workspace;
import dev.dsv2.engine.sample.SamplingParams;

import java.util.Arrays;

/**
 * Generates for one request at a time: the prompt is prefilled in chunks (expanded MLA), then tokens are decoded
 * one by one over the latent cache (absorbed MLA). The CLI and tests use it; the servers use the continuous
 * batching scheduler, which shares {@link RequestState}. Closing it releases its workspace (device memory on a GPU
 * backend); the model and the cache stay the caller's.
 */
public final class Generator implements AutoCloseable {
    public static final int DEFAULT_PREFILL_CHUNK = 512;

    private final DeepseekV2Model model;
    private final LatentKvCache cache;
    private final Workspace ws;
    private final int prefillChunk;
    private final int contextLimit;
    private AttentionMode mode = AttentionMode.AUTO;

    public Generator(DeepseekV2Model model, LatentKvCache cache, int contextLimit, int prefillChunk) {
        this.model = model;
        this.cache = cache;
        this.ws = new Workspace(model.backend());
        this.contextLimit = contextLimit;
        this.prefillChunk = prefillChunk;
    }

    public Generator(DeepseekV2Model model, LatentKvCache cache) {
        this(model, cache, model.config().defaultContextLimit(), DEFAULT_PREFILL_CHUNK);
    }

    @Override
    public void close() {
        ws.close();
    }

    /** Forces one MLA form (tests); serving uses {@link AttentionMode#AUTO}. */
    public Generator withAttentionMode(AttentionMode mode) {
        this.mode = mode;
        return this;
    }

    public GenerationResult generate(int[] prompt, SamplingParams params, TextStream text, TokenListener listener) {
        RequestState req = new RequestState(prompt, params, text, model.config().eosTokenId(), contextLimit);
        int vocab = model.config().vocabSize();
        CacheSequence seq = cache.newSequence();
        try {
            float[] logits = null;
            for (int start = 0; start < prompt.length; start += prefillChunk) {
                int[] chunk = Arrays.copyOfRange(prompt, start, Math.min(prompt.length, start + prefillChunk));
                logits = step(seq, chunk, start);
            }
            while (!req.accept(logits, 0, vocab, listener)) {
                logits = step(seq, new int[]{req.lastToken()}, req.length() - 1);
            }
            return req.result();
        } finally {
            cache.free(seq);
        }
    }

    private float[] step(CacheSequence seq, int[] tokens, int startPos) {
        if (!cache.reserve(seq, startPos + tokens.length)) {
            throw new IllegalStateException("KV cache full: " + (startPos + tokens.length) + " tokens need "
                    + cache.blocksFor(startPos + tokens.length) + " blocks, " + cache.freeBlocks() + " free of "
                    + cache.totalBlocks());
        }
        return model.forward(ForwardBatch.single(seq, tokens, startPos), cache, mode, ws);
    }
}
