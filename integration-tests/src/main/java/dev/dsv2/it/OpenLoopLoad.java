package dev.dsv2.it;

import dev.dsv2.proto.v1.GenerateChunk;
import dev.dsv2.proto.v1.GenerateRequest;
import dev.dsv2.proto.v1.InferenceGrpc;
import dev.dsv2.proto.v1.TokenIds;
import io.grpc.stub.StreamObserver;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * vLLM-style open-loop load ({@code bench-serving --request-rate R --num-prompts N}): requests arrive as a Poisson
 * process of rate R regardless of how fast the server answers (a closed loop would slow its arrivals down with the
 * server, hiding queueing), each with a prompt length and an output length drawn from a fixed seed, so two runs (and
 * the embedded and the distributed system) get the same workload. Measured per request from its arrival: time to
 * the first token (TTFT) and the gaps between later tokens (inter-token latency, ITL; a chunk of k tokens counts as k
 * gaps of a k-th of its wait each), plus the aggregate generated tokens/s over the run and the failed requests.
 *
 * @param requestRate   mean arrivals per second
 * @param numPrompts    requests in the run
 * @param promptTokens  mean prompt length (lengths uniform in [mean/2, 3*mean/2])
 * @param outputTokens  mean output length (uniform in [mean/2, 3*mean/2])
 * @param seed          arrivals and lengths
 */
record OpenLoopLoad(double requestRate, int numPrompts, int promptTokens, int outputTokens, long seed) {

    OpenLoopLoad {
        if (!(requestRate > 0) || numPrompts < 1 || promptTokens < 1 || outputTokens < 1) {
            throw new IllegalArgumentException("open-loop load: --request-rate must be > 0 and --num-prompts, prompt"
                    + " and output tokens >= 1 (got rate " + requestRate + ", " + numPrompts + " prompts)");
        }
    }

    /** Percentiles of one latency, in milliseconds. */
    record Percentiles(double p50, double p90, double p99) {
        static Percentiles of(List<Double> values) {
            if (values.isEmpty()) {
                return new Percentiles(Double.NaN, Double.NaN, Double.NaN);
            }
            double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            return new Percentiles(at(v, 0.50), at(v, 0.90), at(v, 0.99));
        }

        /** Nearest-rank percentile. */
        private static double at(double[] sorted, double q) {
            int rank = (int) Math.ceil(q * sorted.length);
            return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
        }
    }

    /** One mode's run. */
    record Result(String mode, double requestRate, int requests, int tokens, double seconds, Percentiles ttftMs,
                  Percentiles itlMs, int failed) {
        double tokensPerSecond() {
            return tokens / seconds;
        }
    }

    /** Sends the workload through {@code stub} at its arrival times and waits for every request to end. */
    Result run(String mode, InferenceGrpc.InferenceStub stub, int vocab) throws InterruptedException {
        SplittableRandom rnd = new SplittableRandom(seed);
        long[] arrivalNanos = new long[numPrompts];
        GenerateRequest[] requests = new GenerateRequest[numPrompts];
        double t = 0;
        for (int i = 0; i < numPrompts; i++) {
            t += -Math.log(1 - rnd.nextDouble()) / requestRate; // exponential gaps: a Poisson process
            arrivalNanos[i] = (long) (t * 1e9);
            TokenIds.Builder ids = TokenIds.newBuilder();
            int prompt = length(rnd, promptTokens);
            for (int j = 0; j < prompt; j++) {
                ids.addIds(rnd.nextInt(Math.min(vocab, 100_000)));
            }
            requests[i] = GenerateRequest.newBuilder().setPromptIds(ids).setMaxTokens(length(rnd, outputTokens))
                    .setTemperature(0).setIgnoreEos(true).build();
        }
        List<Double> ttft = java.util.Collections.synchronizedList(new ArrayList<>());
        List<Double> itl = java.util.Collections.synchronizedList(new ArrayList<>());
        AtomicInteger failed = new AtomicInteger();
        AtomicInteger tokens = new AtomicInteger();
        AtomicLong lastEnd = new AtomicLong();
        CountDownLatch done = new CountDownLatch(numPrompts);
        long start = System.nanoTime();
        for (int i = 0; i < numPrompts; i++) {
            long wait = start + arrivalNanos[i] - System.nanoTime();
            if (wait > 0) {
                TimeUnit.NANOSECONDS.sleep(wait);
            }
            long arrived = System.nanoTime();
            stub.withDeadlineAfter(30, TimeUnit.MINUTES).generate(requests[i], new StreamObserver<>() {
                private long last = arrived;
                private boolean first = true;

                @Override
                public void onNext(GenerateChunk chunk) {
                    int n = chunk.getTokenIdsCount();
                    if (n == 0) {
                        return;
                    }
                    long now = System.nanoTime();
                    double gapMs = (now - last) / 1e6;
                    if (first) {
                        ttft.add(gapMs);
                        first = false;
                        for (int k = 1; k < n; k++) {
                            itl.add(0.0); // tokens that came with the first one
                        }
                    } else {
                        for (int k = 0; k < n; k++) {
                            itl.add(gapMs / n);
                        }
                    }
                    last = now;
                    tokens.addAndGet(n);
                }

                @Override
                public void onError(Throwable error) {
                    failed.incrementAndGet();
                    end();
                }

                @Override
                public void onCompleted() {
                    end();
                }

                private void end() {
                    lastEnd.accumulateAndGet(System.nanoTime(), Math::max);
                    done.countDown();
                }
            });
        }
        done.await();
        double seconds = (lastEnd.get() - start) / 1e9;
        return new Result(mode, requestRate, numPrompts, tokens.get(), seconds, Percentiles.of(ttft),
                Percentiles.of(itl), failed.get());
    }

    /**
     * Prints {@code results} as a table, or with {@code json} as {@code {"results":[{mode, request_rate,
     * tokens_per_s, ttft_ms{p50,p90,p99}, itl_ms{p50,p90,p99}, failed, requests, tokens, seconds}]}}.
     */
    static void report(java.nio.file.Path model, List<Result> results, boolean json, java.io.PrintStream out)
            throws java.io.IOException {
        if (json) {
            com.fasterxml.jackson.databind.ObjectMapper mapper = new com.fasterxml.jackson.databind.ObjectMapper();
            com.fasterxml.jackson.databind.node.ObjectNode o = mapper.createObjectNode();
            o.put("model", model.toString());
            o.put("cpus", Runtime.getRuntime().availableProcessors());
            com.fasterxml.jackson.databind.node.ArrayNode arr = o.putArray("results");
            for (Result r : results) {
                com.fasterxml.jackson.databind.node.ObjectNode n = arr.addObject();
                n.put("mode", r.mode());
                n.put("request_rate", r.requestRate());
                n.put("tokens_per_s", r.tokensPerSecond());
                percentiles(n.putObject("ttft_ms"), r.ttftMs());
                percentiles(n.putObject("itl_ms"), r.itlMs());
                n.put("failed", r.failed());
                n.put("requests", r.requests());
                n.put("tokens", r.tokens());
                n.put("seconds", r.seconds());
            }
            out.println(mapper.writeValueAsString(o));
            return;
        }
        out.println("model: " + model + " (" + Runtime.getRuntime().availableProcessors() + " cpus)");
        out.printf("%-22s %8s %10s %24s %24s %7s%n", "mode", "rate/s", "tokens/s", "TTFT ms p50/p90/p99",
                "ITL ms p50/p90/p99", "failed");
        for (Result r : results) {
            out.printf("%-22s %8.2f %10.1f %24s %24s %7d%n", r.mode(), r.requestRate(), r.tokensPerSecond(),
                    format(r.ttftMs()), format(r.itlMs()), r.failed());
        }
    }

    private static void percentiles(com.fasterxml.jackson.databind.node.ObjectNode n, Percentiles p) {
        n.put("p50", p.p50());
        n.put("p90", p.p90());
        n.put("p99", p.p99());
    }

    private static String format(Percentiles p) {
        return String.format(java.util.Locale.ROOT, "%.1f/%.1f/%.1f", p.p50(), p.p90(), p.p99());
    }

    private static int length(SplittableRandom rnd, int mean) {
        return Math.max(1, mean / 2) + rnd.nextInt(mean + 1); // [mean/2, 3*mean/2]
    }

    @Override
    public String toString() {
        return "open loop: " + numPrompts + " prompts at " + requestRate + "/s, ~" + promptTokens + " prompt and ~"
                + outputTokens + " output tokens each (seed " + seed + ")";
    }
}
