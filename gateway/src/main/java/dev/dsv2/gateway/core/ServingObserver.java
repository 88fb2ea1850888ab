package dev.dsv2.gateway.core;

import dev.dsv2.engine.sample.FinishReason;

/**
 * What the serving path tells the metrics: per API request an outcome, per sequence its timeline (submitted, each
 * token, end). The metrics package implements it; {@link #NONE} ignores everything (unit tests).
 */
public interface ServingObserver {
    /** Outcome of one API request: {@code api} e.g. {@code grpc}, {@code chat}, {@code completions}, {@code batch}. */
    void request(String api, Outcome outcome);

    /** A sequence was accepted by the router now; the returned timeline receives its events. */
    SequenceTimeline sequenceStarted(String api);

    /** The request outcomes counted by {@code dsv2_requests_total{api,outcome}}. */
    enum Outcome {
        SUCCESS, INVALID, REJECTED, UNAVAILABLE, ABORTED, ERROR;

        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        public static Outcome of(ApiError.Kind kind) {
            return switch (kind) {
                case INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED -> INVALID;
                case RESOURCE_EXHAUSTED -> REJECTED;
                case UNAVAILABLE -> UNAVAILABLE;
                case INTERNAL -> ERROR;
            };
        }
    }

    /** One sequence's timeline. Calls come from one thread at a time. */
    interface SequenceTimeline {
        /** A token was generated (the first one ends the time to first token). */
        void token();

        void finished(FinishReason reason, int promptTokens, int completionTokens);

        void failed();
    }

    ServingObserver NONE = new ServingObserver() {
        @Override
        public void request(String api, Outcome outcome) {
        }

        @Override
        public SequenceTimeline sequenceStarted(String api) {
            return new SequenceTimeline() {
                @Override
                public void token() {
                }

                @Override
                public void finished(FinishReason reason, int promptTokens, int completionTokens) {
                }

                @Override
                public void failed() {
                }
            };
        }
    };
}
