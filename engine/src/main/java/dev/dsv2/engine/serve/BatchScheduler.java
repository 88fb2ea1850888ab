package dev.dsv2.engine.serve;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.generate.RequestState;
import dev.dsv2.engine.model.AttentionMode;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.model.Workspace;
import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Iteration-level continuous batching over one model and one paged {@link LatentKvCache}.
 *
 * <p>Each step the scheduler thread (1) takes new requests and aborts, (2) admits waiting requests
 * ({@link AdmissionControl}), (3) plans the step ({@link StepPlanner}: one row per decoding sequence, then prefill
 * chunks of admitted sequences within the token budget, so decoding streams never stall behind a long prefill),
 * (4) runs one forward pass over the mixed batch (two overlapped micro-batches with remote experts) and (5) samples,
 * streams and retires finished sequences, freeing their cache blocks at once. This class is the loop and the
 * request-facing side; the decisions live in those two.
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
     * @param microBatches   with remote experts, whether a step runs as two micro-batches whose attention and
     *                       expert round trips overlap ({@link DeepseekV2Model#forwardOverlapped}): measured per kind
     *                       of step ({@link MicroBatches#AUTO}), never, or always
     */
    public record Config(int maxBatchTokens, int maxRunning, int maxWaiting, int contextLimit,
                         MicroBatches microBatches) {
        public Config {
            if (maxBatchTokens < 1 || maxRunning < 1 || maxWaiting < 0 || contextLimit < 2 || microBatches == null) {
                throw new IllegalArgumentException("invalid scheduler config: maxBatchTokens " + maxBatchTokens
                        + ", maxRunning " + maxRunning + ", maxWaiting " + maxWaiting + ", contextLimit "
                        + contextLimit + ", microBatches " + microBatches);
            }
        }

        /** With {@link MicroBatches#AUTO}. */
        public Config(int maxBatchTokens, int maxRunning, int maxWaiting, int contextLimit) {
            this(maxBatchTokens, maxRunning, maxWaiting, contextLimit, MicroBatches.AUTO);
        }

        /** With a fixed number of micro-batches, 1 or 2 (the form before {@link MicroBatches}). */
        public Config(int maxBatchTokens, int maxRunning, int maxWaiting, int contextLimit, int microBatches) {
            this(maxBatchTokens, maxRunning, maxWaiting, contextLimit,
                    MicroBatches.parse(String.valueOf(microBatches)));
        }

        public static Config defaults(int contextLimit) {
            return new Config(ServingSettings.DEFAULT_MAX_BATCH_TOKENS, ServingSettings.DEFAULT_MAX_RUNNING,
                    ServingSettings.DEFAULT_MAX_WAITING, contextLimit);
        }
    }

    /** A point-in-time view for metrics and health. */
    public record Stats(int running, int waiting, int usedBlocks, int totalBlocks, int blockSize, long steps,
                        long preemptions, long prefixQueriedTokens, long prefixHitTokens, long splitSteps) {
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
    private final Workspace ws;
    private final Workspace wsSecond;
    private final ConcurrentLinkedQueue<ScheduledSequence> incoming = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<String> aborts = new ConcurrentLinkedQueue<>();
    private final Map<String, ScheduledSequence> byId = new ConcurrentHashMap<>();
    private final AdmissionControl admission;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition wake = lock.newCondition();
    private final Thread thread;
    private volatile boolean closed;
    private volatile StepObserver observer = (rows, decode, seqs, nanos) -> { };
    private volatile Stats stats;
    private final MicroBatchChooser splitChooser;
    private long steps;
    private long splitSteps;

    public BatchScheduler(DeepseekV2Model model, LatentKvCache cache, Config config) {
        this.model = model;
        this.cache = cache;
        this.ws = new Workspace(model.backend());
        this.wsSecond = new Workspace(model.backend());
        this.config = config;
        this.vocab = model.config().vocabSize();
        this.eosId = model.config().eosTokenId();
        this.admission = new AdmissionControl(cache, config.maxRunning(), config.maxBatchTokens());
        this.stats = new Stats(0, 0, 0, cache.totalBlocks(), cache.blockSize(), 0, 0, 0, 0, 0);
        this.splitChooser = new MicroBatchChooser(config.microBatches());
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
        ScheduledSequence seq = new ScheduledSequence(requestId, state, listener);
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
                if (admission.idle()) {
                    publishStats();
                    awaitWork();
                    continue;
                }
                step();
            } catch (Throwable t) {
                LOG.log(Level.SEVERE, "scheduler step failed", t);
                failAll(admission.running(), ErrorKind.INTERNAL, "internal error: " + t);
            }
        }
        failAll(admission.all(), ErrorKind.UNAVAILABLE, "the server is shutting down");
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
        ScheduledSequence s;
        while ((s = incoming.poll()) != null) {
            admission.enqueue(s);
        }
        String id;
        while ((id = aborts.poll()) != null) {
            ScheduledSequence seq = byId.get(id);
            if (seq != null && !seq.done) {
                seq.state.abort(FinishReason.ABORT);
                finish(seq);
            }
        }
    }

    private void step() {
        admission.admit();
        StepPlanner.Step<ScheduledSequence> step = StepPlanner.plan(admission.running(), config.maxBatchTokens(),
                admission);
        if (!step.isEmpty()) {
            runForward(step);
        }
        publishStats();
    }

    private void runForward(StepPlanner.Step<ScheduledSequence> step) {
        List<ScheduledSequence> seqs = step.seqs();
        List<Span> spans = step.spans();
        int rows = step.rows();
        boolean split = model.expertsAreRemote() && splitChooser.split(rows, step.decodeRows(), seqs.size());
        long t0 = System.nanoTime();
        try {
            if (split) {
                int half = StepPlanner.splitPoint(spans);
                StepPlanner.Batch<ScheduledSequence> a = StepPlanner.batch(seqs.subList(0, half),
                        spans.subList(0, half));
                StepPlanner.Batch<ScheduledSequence> b = StepPlanner.batch(seqs.subList(half, seqs.size()),
                        spans.subList(half, spans.size()));
                float[][] logits = model.forwardOverlapped(a.batch(), ws, b.batch(), wsSecond, cache,
                        AttentionMode.AUTO);
                forwardDone(step, rows, true, System.nanoTime() - t0);
                sample(a.logitSeqs(), logits[0]);
                sample(b.logitSeqs(), logits[1]);
            } else {
                StepPlanner.Batch<ScheduledSequence> p = StepPlanner.batch(seqs, spans);
                float[] logits = model.forward(p.batch(), cache, AttentionMode.AUTO, ws);
                forwardDone(step, rows, false, System.nanoTime() - t0);
                sample(p.logitSeqs(), logits);
            }
        } catch (ServingException e) {
            LOG.warning(() -> "step failed for " + seqs.size() + " sequences: " + e.getMessage());
            failAll(seqs, e.kind(), e.getMessage());
        }
    }

    /**
     * After a step's forward pass over {@code rows} rows ({@code split}: as two micro-batches), before sampling: counts it, gives its time to
     * the micro-batch choice (remote experts only) and the step observer, registers the filled cache blocks.
     */
    private void forwardDone(StepPlanner.Step<ScheduledSequence> step, int rows, boolean split, long nanos) {
        int sequences = step.seqs().size();
        steps++;
        splitSteps += split ? 1 : 0;
        if (model.expertsAreRemote()) {
            splitChooser.record(rows, step.decodeRows(), sequences, split, nanos);
        }
        observer.onStep(rows, step.decodeRows(), sequences, nanos);
        admission.registerBlocks(step.seqs());
    }

    /**
     * Samples each sequence's next token from its logits row and retires the finished ones. The rows are sampled at
     * once on the backend's host threads ({@link dev.dsv2.engine.kernel.Backend#forEachOnHost}: each request's
     * sampler is its own, so the tokens are those of one row after another; 8 ms of a 64-row step at temperature 1 on
     * one thread), then accepted in order on this thread, which applies the stop rules and streams.
     */
    private void sample(List<ScheduledSequence> logitSeqs, float[] logits) {
        int n = logitSeqs.size();
        RuntimeException[] failed = new RuntimeException[n];
        if (n > 1) {
            model.backend().forEachOnHost(n, i -> {
                try {
                    logitSeqs.get(i).state.choose(logits, i * vocab, vocab);
                } catch (RuntimeException e) {
                    failed[i] = e;
                }
            });
        }
        for (int i = 0; i < n; i++) {
            ScheduledSequence s = logitSeqs.get(i);
            boolean finished;
            try {
                if (failed[i] != null) {
                    throw failed[i];
                }
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
    private void finish(ScheduledSequence s) {
        release(s);
        try {
            s.listener.onComplete(s.state.finishReason(), s.state.prompt().length, s.state.generated());
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "listener of " + s.id + " failed", e);
        }
    }

    private void failAll(List<ScheduledSequence> seqs, ErrorKind kind, String message) {
        for (ScheduledSequence s : List.copyOf(seqs)) {
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

    private void release(ScheduledSequence s) {
        admission.release(s);
        byId.remove(s.id, s);
    }

    private void publishStats() {
        stats = new Stats(admission.runningCount(), admission.waitingCount() + incoming.size(), cache.usedBlocks(),
                cache.totalBlocks(), cache.blockSize(), steps, admission.preemptions(), cache.prefixQueriedTokens(),
                cache.prefixHitTokens(), splitSteps);
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
        if (!thread.isAlive()) { // the workspaces' buffers (device memory on a GPU backend) are free to release
            ws.close();
            wsSecond.close();
        }
    }
}
