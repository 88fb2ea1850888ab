package dev.dsv2.gateway.core;

import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.serve.ServingException;
import dev.dsv2.gateway.model.ModelHost;
import dev.dsv2.gateway.model.ServedModel;
import dev.dsv2.gateway.router.RouterClient;
import dev.dsv2.gateway.router.RouterRequest;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The transport-independent serving path: takes an API request's tokenized sequences, sends them to the router and
 * streams their detokenized output to a {@link GenerationSink}; keeps the in-flight requests by id so that any API
 * can abort them. The gRPC service, the OpenAI API and the Kafka batch consumer all go through here.
 */
public final class GenerationService {
    /** Logprobs the router computes per step at most (the OpenAI limit on top_logprobs). */
    public static final int MAX_LOGPROBS = OutputOptions.MAX_TOP_LOGPROBS;

    private final ModelHost host;
    private final ServingObserver observer;
    private final Map<String, RequestHandle> inFlight = new ConcurrentHashMap<>();
    /** The router's KV capacity, once known (it does not change while the router runs). */
    private volatile long cacheCapacity;
    private volatile long capacityCheckedAt;

    public GenerationService(ModelHost host, ServingObserver observer) {
        this.host = host;
        this.observer = observer;
    }

    /**
     * The served model.
     *
     * @throws ApiError UNAVAILABLE while it is loading
     */
    public ServedModel model() {
        return host.served();
    }

    public ServingObserver observer() {
        return observer;
    }

    /**
     * The router's KV cache capacity in tokens, 0 when unknown (used to clamp default max_tokens). Asked of the
     * router once it answers, and at most every {@value #CAPACITY_RECHECK_MS} ms before, so a remote router is not
     * queried per request.
     */
    public long cacheCapacityTokens(ServedModel model) {
        long known = cacheCapacity;
        long now = System.currentTimeMillis();
        if (known == 0 && now - capacityCheckedAt > CAPACITY_RECHECK_MS) {
            capacityCheckedAt = now;
            known = model.router().status().kvCapacityTokens();
            cacheCapacity = known;
        }
        return known;
    }

    static final long CAPACITY_RECHECK_MS = 5_000;

    /**
     * Starts an API request's sequences.
     *
     * @param requestId unique among in-flight requests (the public id; sequences get {@code id/index} when several)
     * @param api       metrics label of the calling API
     * @throws ApiError when the request is refused (nothing is left running then)
     */
    public RequestHandle start(String requestId, String api, List<SequenceSpec> sequences, OutputOptions output,
                               GenerationSink sink) {
        return start(Caller.INTERNAL, requestId, api, sequences, output, sink);
    }

    /**
     * Starts {@code caller}'s request: with API keys, {@code requestId} only has to be unique among the caller's
     * own requests, and only the caller can {@link #abort(Caller, String)} it.
     */
    public RequestHandle start(Caller caller, String requestId, String api, List<SequenceSpec> sequences,
                               OutputOptions output, GenerationSink sink) {
        if (sequences.isEmpty()) {
            throw new IllegalArgumentException("request " + requestId + " has no sequences");
        }
        ServedModel model = host.served();
        RouterClient router = model.router();
        List<SamplingParams> params = new ArrayList<>();
        for (SequenceSpec spec : sequences) {
            SamplingParams p = spec.params().toBuilder().logprobs(output.routerLogprobs()).build();
            try {
                p.validate(model.vocabSize(), MAX_LOGPROBS);
            } catch (IllegalArgumentException e) {
                throw ApiError.invalid(null, e.getMessage());
            }
            params.add(p);
        }
        String key = caller.scope(requestId);
        List<String> routerIds = new ArrayList<>();
        for (SequenceSpec spec : sequences) {
            routerIds.add(sequences.size() == 1 ? key : key + "/" + spec.index());
        }
        RequestHandle handle = new RequestHandle(requestId, api, router, routerIds);
        if (inFlight.putIfAbsent(key, handle) != null) {
            throw ApiError.invalid("request_id", "request_id " + requestId + " is already in flight");
        }
        AtomicInteger remaining = new AtomicInteger(sequences.size());
        Runnable onEnd = () -> {
            if (remaining.decrementAndGet() == 0) {
                inFlight.remove(key, handle);
            }
        };
        DiscardableSink guarded = new DiscardableSink(sink);
        try {
            for (int i = 0; i < sequences.size(); i++) {
                SequenceSpec spec = sequences.get(i);
                ServingObserver.SequenceTimeline timeline = observer.sequenceStarted(api);
                TextGeneration generation = new TextGeneration(spec, routerIds.get(i), model.tokenizer(), router,
                        output, guarded, timeline, onEnd);
                router.generate(new RouterRequest(routerIds.get(i), spec.promptIds(), params.get(i)), generation);
            }
        } catch (ServingException | ApiError | IllegalArgumentException e) {
            guarded.discard();
            handle.abort();
            inFlight.remove(key, handle);
            throw e instanceof ServingException se ? ApiError.of(se)
                    : e instanceof ApiError ae ? ae : ApiError.invalid(null, e.getMessage());
        }
        return handle;
    }

    /** Aborts an in-flight request by id; false when there is none. */
    public boolean abort(String requestId) {
        return abort(Caller.INTERNAL, requestId);
    }

    /**
     * Aborts {@code caller}'s in-flight request {@code requestId}; false when the caller has none by that id (an
     * authenticated caller never reaches another key's requests, nor learns that they exist).
     */
    public boolean abort(Caller caller, String requestId) {
        RequestHandle handle = inFlight.get(caller.scope(requestId));
        return handle != null && handle.abort();
    }

    /** Whether {@code caller} has a request {@code requestId} in flight. */
    public boolean inFlight(Caller caller, String requestId) {
        return inFlight.containsKey(caller.scope(requestId));
    }

    /**
     * Aborts every request in flight whose API label {@code which} accepts (the end of a shutdown drain); returns
     * how many were still running.
     */
    public int abortAll(java.util.function.Predicate<String> which) {
        int n = 0;
        for (RequestHandle h : List.copyOf(inFlight.values())) {
            if (which.test(h.api()) && h.abort()) {
                n++;
            }
        }
        return n;
    }

    /** Requests in flight (all APIs). */
    public int inFlightRequests() {
        return inFlight.size();
    }

    /** Forwards events until {@link #discard()}: a refused request's already-started sequences stay silent. */
    private static final class DiscardableSink implements GenerationSink {
        private final GenerationSink sink;
        private volatile boolean discarded;

        DiscardableSink(GenerationSink sink) {
            this.sink = sink;
        }

        void discard() {
            discarded = true;
        }

        @Override
        public void onDelta(int index, int tokenId, String text, TokenLogprob logprob) {
            if (!discarded) {
                sink.onDelta(index, tokenId, text, logprob);
            }
        }

        @Override
        public void onFinish(int index, FinishReason reason, String text, Usage usage) {
            if (!discarded) {
                sink.onFinish(index, reason, text, usage);
            }
        }

        @Override
        public void onError(int index, ApiError error) {
            if (!discarded) {
                sink.onError(index, error);
            }
        }
    }
}
