package dev.dsv2.engine.serve;

import dev.dsv2.engine.cache.CacheSequence;
import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.generate.RequestState;
import dev.dsv2.engine.model.AttentionMode;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.model.ForwardBatch;
import dev.dsv2.engine.model.Workspace;
import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Iteration-level continuous batching over one model and one paged {@link LatentKvCache}.
 *
 * <p>Each step the scheduler thread (1) takes new requests and aborts, (2) gives every decoding sequence one row,
 * (3) fills the rest of the step's token budget with prefill chunks of admitted sequences (long prompts are split
 * across steps, so decoding streams never stall behind a long prefill), (4) runs one forward pass over the mixed
 * batch and (5) samples, streams and retires finished sequences, freeing their cache blocks at once.
 *
 * <p>Admission control: a request that can never fit (its prompt and completion exceed the context limit or the
 * whole cache) is refused at once with {@link ErrorKind#INVALID_ARGUMENT}; others queue until blocks are free
 * (FIFO). When a decoding sequence needs a new block and none is free, the most recently admitted sequence is
 * preempted: its blocks are freed and it is recomputed later from its tokens, so no request fails for lack of cache.
 *
 * <p>Prefix caching: at admission a request reuses the cached blocks of the longest full-block prefix it shares
 * with earlier requests (a common system prompt, a previous turn of the chat, or its own tokens after preemption);
 * every step registers the full blocks it completed.
 */
public final class BatchScheduler implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(BatchScheduler.class.getName());

    /**
     * @param maxBatchTokens rows per forward pass (decode rows + prefill chunk tokens)
     * @param maxRunning     sequences decoding at once
     * @param maxWaiting     queued requests before new ones are refused with RESOURCE_EXHAUSTED
     * @param contextLimit   prompt + completion tokens per request
     * @param microBatches   2: with remote experts, split each step into two micro-batches whose attention and
     *                       expert round trips overlap ({@link DeepseekV2Model#forwardOverlapped}); 1: never split
     */
    public record Config(int maxBatchTokens, int maxRunning, int maxWaiting, int contextLimit, int microBatches) {
        public Config {
            if (maxBatchTokens < 1 || maxRunning < 1 || maxWaiting < 0 || contextLimit < 2
                    || microBatches < 1 || microBatches > 2) {
                throw new IllegalArgumentException("invalid scheduler config: maxBatchTokens " + maxBatchTokens
                        + ", maxRunning " + maxRunning + ", maxWaiting " + maxWaiting + ", contextLimit "
                        + contextLimit + ", microBatches " + microBatches + " (1 or 2)");
            }
        }

        public Config(int maxBatchTokens, int maxRunning, int maxWaiting, int contextLimit) {
            this(maxBatchTokens, maxRunning, maxWaiting, contextLimit, 2);
        }

        public static Config defaults(int contextLimit) {
            return new Config(512, 256, 4096, contextLimit);
        }
    }

    /** A point-in-time view for metrics and health. */
    public record Stats(int running, int waiting, int usedBlocks, int totalBlocks, int blockSize, long steps,
                        long preemptions, long prefixQueriedTokens, long prefixHitTokens) {
        public double kvCacheUsage() {
            return totalBlocks == 0 ? 0 : (double) usedBlocks / totalBlocks;
        }
    }

    /** Per-step figures for metrics: rows, of which decode rows, and the forward pass's wall time. */
    @FunctionalInterface
    public interface StepObserver {
        void onStep(int rows, int decodeRows, int sequences, long nanos);
    }

    private final DeepseekV2Model model;
    private final LatentKvCache cache;
    private final Config config;
    private final int vocab;
    private final int eosId;
    private final Workspace ws = new Workspace();
    private final Workspace wsSecond = new Workspace();
    private final ConcurrentLinkedQueue<Seq> incoming = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<String> aborts = new ConcurrentLinkedQueue<>();
    private final Map<String, Seq> byId = new java.util.concurrent.ConcurrentHashMap<>();
    private final Deque<Seq> waiting = new ArrayDeque<>();
    private final List<Seq> running = new ArrayList<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition wake = lock.newCondition();
    private final Thread thread;
    private volatile boolean closed;
    private volatile StepObserver observer = (rows, decode, seqs, nanos) -> { };
    private volatile Stats stats;
    private long steps;
    private long preemptions;
    private long admissionOrder;

    /** One request's scheduling state. */
    private static final class Seq {
        final String id;
        final RequestState state;
        final GenerationListener listener;
        CacheSequence cacheSeq;
        long admittedAt;
        boolean done;

        Seq(String id, RequestState state, GenerationListener listener) {
            this.id = id;
            this.state = state;
            this.listener = listener;
        }

        /** Prompt + generated tokens: what the cache must hold before the next logits. */
        int total() {
            return state.length();
        }

        int tokenAt(int pos) {
            int[] prompt = state.prompt();
            return pos < prompt.length ? prompt[pos] : state.outputToken(pos - prompt.length);
        }
    }

    public BatchScheduler(DeepseekV2Model model, LatentKvCache cache, Config config) {
        this.model = model;
        this.cache = cache;
        this.config = config;
        this.vocab = model.config().vocabSize();
        this.eosId = model.config().eosTokenId();
        this.stats = new Stats(0, 0, 0, cache.totalBlocks(), cache.blockSize(), 0, 0, 0, 0);
        this.thread = Thread.ofPlatform().name("dsv2-scheduler").daemon().start(this::loop);
    }

    public Config config() {
        return config;
    }

    public DeepseekV2Model model() {
        return model;
    }

    public void setStepObserver(StepObserver observer) {
        this.observer = observer;
    }

    /**
     * Queues a request. Refuses it at once ({@link ServingException}) when it is invalid, can never fit, or the queue
     * is full; otherwise its events reach {@code listener}. Sampling stop strings are not the scheduler's business
     * (the gateway matches them on text and aborts); stop token ids, eos and max tokens are.
     */
    public void submit(String requestId, int[] prompt, SamplingParams params, GenerationListener listener) {
        if (closed) {
            throw new ServingException(ErrorKind.UNAVAILABLE, "the scheduler is shut down");
        }
        RequestState state;
        try {
            params.validate(vocab, 20);
            for (int t : prompt) {
                if (t < 0 || t >= vocab) {
                    throw new IllegalArgumentException("prompt token id " + t + " is outside the vocabulary [0, "
                            + vocab + ")");
                }
            }
            SamplingParams idsOnly = params.stop().isEmpty() ? params : params.toBuilder().stop(List.of()).build();
            state = new RequestState(prompt, idsOnly, null, eosId, config.contextLimit());
        } catch (IllegalArgumentException e) {
            throw new ServingException(ErrorKind.INVALID_ARGUMENT, e.getMessage());
        }
        long worst = Math.min((long) prompt.length + params.maxTokens(), config.contextLimit());
        if (worst > cache.capacityTokens()) {
            throw new ServingException(ErrorKind.INVALID_ARGUMENT, "the request needs up to " + worst
                    + " tokens of KV cache (prompt " + prompt.length + " + max_tokens " + params.maxTokens()
                    + "), more than the whole cache holds (" + cache.capacityTokens() + " tokens)");
        }
        if (byId.size() >= config.maxWaiting() + config.maxRunning()) {
            throw new ServingException(ErrorKind.RESOURCE_EXHAUSTED, "server saturated: " + byId.size()
                    + " requests in flight; retry later");
        }
        Seq seq = new Seq(requestId, state, listener);
        if (byId.putIfAbsent(requestId, seq) != null) {
            throw new ServingException(ErrorKind.INVALID_ARGUMENT, "request_id " + requestId + " is already in flight");
        }
        incoming.add(seq);
        signal();
    }

    /** Aborts a queued or running request: its stream completes with {@link FinishReason#ABORT}, its blocks are freed. */
    public boolean abort(String requestId) {
        if (!byId.containsKey(requestId)) {
            return false;
        }
        aborts.add(requestId);
        signal();
        return true;
    }

    public Stats stats() {
        return stats;
    }

    private void signal() {
        lock.lock();
        try {
            wake.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void loop() {
        while (!closed) {
            try {
                takeNew();
                if (running.isEmpty() && waiting.isEmpty()) {
                    publishStats();
                    awaitWork();
                    continue;
                }
                step();
            } catch (Throwable t) {
                LOG.log(Level.SEVERE, "scheduler step failed", t);
                failAll(running, ErrorKind.INTERNAL, "internal error: " + t);
            }
        }
        List<Seq> all = new ArrayList<>(running);
        all.addAll(waiting);
        failAll(all, ErrorKind.UNAVAILABLE, "the server is shutting down");
    }

    private void awaitWork() throws InterruptedException {
        lock.lock();
        try {
            if (incoming.isEmpty() && aborts.isEmpty() && !closed) {
                wake.await();
            }
        } finally {
            lock.unlock();
        }
    }

    private void takeNew() {
        Seq s;
        while ((s = incoming.poll()) != null) {
            waiting.addLast(s);
        }
        String id;
        while ((id = aborts.poll()) != null) {
            Seq seq = byId.get(id);
            if (seq != null && !seq.done) {
                seq.state.abort(FinishReason.ABORT);
                finish(seq);
            }
        }
    }

    private void step() {
        admit();
        List<Seq> batchSeqs = new ArrayList<>();
        List<int[]> spans = new ArrayList<>(); // {start, length} per scheduled sequence
        int budget = config.maxBatchTokens();
        // Decode rows first: one per sequence whose prompt is fully cached.
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Seq s = running.get(i);
            int cached = s.cacheSeq.length();
            if (s.total() - cached != 1) {
                continue;
            }
            if (!reserveOrPreempt(s, s.total())) {
                i = running.indexOf(s) < 0 ? i - 1 : i;
                continue;
            }
            batchSeqs.add(s);
            spans.add(new int[]{cached, 1});
            budget--;
        }
        int decodeRows = batchSeqs.size();
        // Then prefill chunks, oldest first, within the remaining budget.
        for (Seq s : running) {
            if (budget <= 0) {
                break;
            }
            int cached = s.cacheSeq.length();
            int pending = s.total() - cached;
            if (pending <= 1 && batchSeqs.contains(s) || pending < 1) {
                continue;
            }
            int n = Math.min(pending, budget);
            if (!cache.reserve(s.cacheSeq, cached + n)) {
                continue;
            }
            batchSeqs.add(s);
            spans.add(new int[]{cached, n});
            budget -= n;
        }
        if (batchSeqs.isEmpty()) {
            publishStats();
            return;
        }
        runForward(batchSeqs, spans, decodeRows);
        publishStats();
    }

    /** Moves waiting requests into the running set while their prompts fit in free blocks (FIFO). */
    private void admit() {
        while (!waiting.isEmpty() && running.size() < config.maxRunning()) {
            Seq s = waiting.peekFirst();
            CacheSequence cs = cache.newSequence();
            int reused = cache.matchPrefix(cs, s::tokenAt, s.total() - 1);
            int firstChunk = reused + Math.min(s.total() - reused, config.maxBatchTokens());
            if (!cache.reserve(cs, firstChunk)) {
                cache.free(cs);
                return;
            }
            waiting.pollFirst();
            s.cacheSeq = cs;
            s.admittedAt = admissionOrder++;
            running.add(s);
        }
    }

    /** Reserves room for {@code tokens} of {@code s}, preempting the youngest other sequences if needed. */
    private boolean reserveOrPreempt(Seq s, int tokens) {
        while (!cache.reserve(s.cacheSeq, tokens)) {
            Seq victim = null;
            for (Seq r : running) {
                if (victim == null || r.admittedAt > victim.admittedAt) {
                    victim = r;
                }
            }
            preempt(victim);
            if (victim == s) {
                return false;
            }
        }
        return true;
    }

    private void preempt(Seq s) {
        cache.free(s.cacheSeq);
        s.cacheSeq = null;
        running.remove(s);
        waiting.addFirst(s);
        preemptions++;
        LOG.fine(() -> "preempted " + s.id + " (" + s.total() + " tokens) for lack of KV cache blocks");
    }

    /** One forward pass's rows: the batch and the sequences whose logits it yields, in logit-row order. */
    private record Planned(ForwardBatch batch, List<Seq> logitSeqs) {
    }

    private static Planned plan(List<Seq> seqs, List<int[]> spans) {
        int rows = 0;
        for (int[] sp : spans) {
            rows += sp[1];
        }
        int[] tokens = new int[rows];
        int[] positions = new int[rows];
        CacheSequence[] cacheSeqs = new CacheSequence[rows];
        int[] logitRows = new int[seqs.size()];
        List<Seq> logitSeqs = new ArrayList<>();
        int r = 0;
        for (int i = 0; i < seqs.size(); i++) {
            Seq s = seqs.get(i);
            int start = spans.get(i)[0];
            int n = spans.get(i)[1];
            for (int j = 0; j < n; j++) {
                tokens[r] = s.tokenAt(start + j);
                positions[r] = start + j;
                cacheSeqs[r] = s.cacheSeq;
                r++;
            }
            if (start + n == s.total()) {
                logitRows[logitSeqs.size()] = r - 1;
                logitSeqs.add(s);
            }
        }
        return new Planned(ForwardBatch.of(tokens, positions, cacheSeqs,
                java.util.Arrays.copyOf(logitRows, logitSeqs.size())), logitSeqs);
    }

    private void runForward(List<Seq> seqs, List<int[]> spans, int decodeRows) {
        int rows = 0;
        for (int[] sp : spans) {
            rows += sp[1];
        }
        boolean split = config.microBatches() == 2 && model.expertsAreRemote() && seqs.size() >= 2;
        long t0 = System.nanoTime();
        try {
            if (split) {
                int half = 0;
                int acc = 0;
                while (half < seqs.size() - 1 && acc + spans.get(half)[1] <= rows / 2) {
                    acc += spans.get(half)[1];
                    half++;
                }
                half = Math.max(1, half);
                Planned a = plan(seqs.subList(0, half), spans.subList(0, half));
                Planned b = plan(seqs.subList(half, seqs.size()), spans.subList(half, spans.size()));
                float[][] logits = model.forwardOverlapped(a.batch(), ws, b.batch(), wsSecond, cache,
                        AttentionMode.AUTO);
                steps++;
                observer.onStep(rows, decodeRows, seqs.size(), System.nanoTime() - t0);
                registerBlocks(seqs);
                sample(a.logitSeqs(), logits[0]);
                sample(b.logitSeqs(), logits[1]);
            } else {
                Planned p = plan(seqs, spans);
                float[] logits = model.forward(p.batch(), cache, AttentionMode.AUTO, ws);
                steps++;
                observer.onStep(rows, decodeRows, seqs.size(), System.nanoTime() - t0);
                registerBlocks(seqs);
                sample(p.logitSeqs(), logits);
            }
        } catch (ServingException e) {
            LOG.warning(() -> "step failed for " + seqs.size() + " sequences: " + e.getMessage());
            failAll(seqs, e.kind(), e.getMessage());
        }
    }

    /** Indexes the full blocks the step completed, for prefix reuse by later requests. */
    private void registerBlocks(List<Seq> seqs) {
        for (Seq s : seqs) {
            if (s.cacheSeq != null) {
                cache.registerFullBlocks(s.cacheSeq, s::tokenAt);
            }
        }
    }

    /** Samples each sequence's next token from its logits row and retires the finished ones. */
    private void sample(List<Seq> logitSeqs, float[] logits) {
        for (int i = 0; i < logitSeqs.size(); i++) {
            Seq s = logitSeqs.get(i);
            boolean finished;
            try {
                finished = s.state.accept(logits, i * vocab, vocab, (id, text, top) ->
                        s.listener.onToken(id, s.state.lastTokenLogprob(), top));
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "request " + s.id + " failed", e);
                failAll(List.of(s), ErrorKind.INTERNAL, "internal error: " + e);
                continue;
            }
            if (finished) {
                finish(s);
            }
        }
    }

    /** Completes a request normally (or by abort): frees its blocks and tells its listener. */
    private void finish(Seq s) {
        release(s);
        try {
            s.listener.onComplete(s.state.finishReason(), s.state.prompt().length, s.state.generated());
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "listener of " + s.id + " failed", e);
        }
    }

    private void failAll(List<Seq> seqs, ErrorKind kind, String message) {
        for (Seq s : List.copyOf(seqs)) {
            if (s.done) {
                continue;
            }
            s.state.abort(FinishReason.ERROR);
            release(s);
            try {
                s.listener.onError(kind, message);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "listener of " + s.id + " failed", e);
            }
        }
    }

    private void release(Seq s) {
        s.done = true;
        if (s.cacheSeq != null) {
            cache.free(s.cacheSeq);
        }
        running.remove(s);
        waiting.remove(s);
        byId.remove(s.id, s);
    }

    private void publishStats() {
        stats = new Stats(running.size(), waiting.size() + incoming.size(), cache.usedBlocks(), cache.totalBlocks(),
                cache.blockSize(), steps, preemptions, cache.prefixQueriedTokens(), cache.prefixHitTokens());
    }

    @Override
    public void close() {
        closed = true;
        signal();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
