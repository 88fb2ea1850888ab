package dev.dsv2.router;

import dev.dsv2.proto.internal.v1.ShardTiming;

/**
 * Where one shard call of one MoE layer spent its time, in order, in nanoseconds:
 * <pre>
 *   serialize    router: rows gathered and encoded into the request
 *   send         router sent -> shard received (wall clocks: exact on one host, as good as the clocks across hosts)
 *   queue        shard: received -> a compute thread took it
 *   compute      shard: request decoded, grouped expert kernel call, response encoded
 *   reply        shard handed the reply to gRPC -> router received it (wall clocks)
 *   deserialize  router: partial sums added into the layer output
 * </pre>
 * {@code send} and {@code reply} are clamped at 0 (clocks of different hosts may disagree).
 */
public record CallTimeline(int shard, long serializeNanos, long sendNanos, long queueNanos, long computeNanos,
                           long replyNanos, long deserializeNanos) {

    /** The phase names, in timeline order (metric tags and report columns). */
    public static final String[] PHASES = {"serialize", "send", "queue", "compute", "reply", "deserialize"};

    static CallTimeline of(int shard, long serializeNanos, ComputeStream.Reply reply, long deserializeNanos) {
        ShardTiming st = reply.response().getTiming();
        long send = Math.max(0, st.getReceivedUnixNanos() - reply.sentUnixNanos());
        long back = Math.max(0, reply.receivedUnixNanos() - st.getRepliedUnixNanos());
        return new CallTimeline(shard, serializeNanos, send, st.getQueueNanos(),
                st.getDecodeNanos() + st.getComputeNanos() + st.getEncodeNanos(), back, deserializeNanos);
    }

    /** The phase {@code i} of {@link #PHASES}. */
    public long phase(int i) {
        return switch (i) {
            case 0 -> serializeNanos;
            case 1 -> sendNanos;
            case 2 -> queueNanos;
            case 3 -> computeNanos;
            case 4 -> replyNanos;
            case 5 -> deserializeNanos;
            default -> throw new IndexOutOfBoundsException("phase " + i + " of " + PHASES.length);
        };
    }
}
