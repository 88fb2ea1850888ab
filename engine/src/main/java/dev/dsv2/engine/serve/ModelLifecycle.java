package dev.dsv2.engine.serve;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The LOADING -> READY | FAILED lifecycle of something whose weights take a while to map (a served model, a router
 * engine, an expert shard). Services start answering health checks at once and load in the background; until the
 * value is ready callers are refused with a message saying what is happening ({@link #describe()}), and a failed
 * load is kept, logged and reported rather than thrown, so the process stays up to say why through health.
 *
 * <p>A value that finishes loading after {@link #close()} is closed at once instead of being published.
 *
 * @param <T> what loading yields
 */
public final class ModelLifecycle<T> implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ModelLifecycle.class.getName());

    public enum State { LOADING, READY, FAILED }

    /** The blocking load; any exception or error fails the lifecycle with its message. */
    @FunctionalInterface
    public interface Loader<T> {
        T load() throws Exception;
    }

    private final String subject;
    private final Consumer<? super T> closer;
    private final CountDownLatch settled = new CountDownLatch(1);
    private final List<Consumer<? super T>> readyListeners = new ArrayList<>();
    private volatile State state = State.LOADING;
    private volatile String progress = "starting";
    private volatile T value;
    private volatile String failure;
    private volatile boolean closed;

    /**
     * @param subject what is loading, for messages ("the model", "shard 1/2")
     * @param closer  releases a loaded value (on {@link #close()}, or at once when it arrives after close)
     */
    public ModelLifecycle(String subject, Consumer<? super T> closer) {
        this.subject = subject;
        this.closer = closer;
    }

    /** Runs {@link #load} on a new daemon platform thread named {@code threadName}; returns at once. */
    public void startLoading(String threadName, Loader<? extends T> loader) {
        Thread.ofPlatform().name(threadName).daemon().start(() -> load(loader));
    }

    /**
     * Loads on the calling thread. The result becomes READY (ready listeners then run on this thread); an exception
     * or error makes the state FAILED with its message. Loads once: later calls return the settled outcome.
     *
     * @return whether the value is ready
     */
    public boolean load(Loader<? extends T> loader) {
        if (settled.getCount() == 0) {
            return state == State.READY;
        }
        long t0 = System.nanoTime();
        try {
            T loaded = loader.load();
            List<Consumer<? super T>> listeners;
            synchronized (this) {
                if (closed) {
                    closer.accept(loaded);
                    return false;
                }
                value = loaded;
                state = State.READY;
                listeners = List.copyOf(readyListeners);
                readyListeners.clear();
            }
            LOG.fine(() -> String.format("%s ready in %.1f s", subject, (System.nanoTime() - t0) / 1e9));
            for (Consumer<? super T> listener : listeners) {
                listener.accept(loaded);
            }
            return true;
        } catch (Exception | Error e) {
            failure = e.getMessage() == null ? e.toString() : e.getMessage();
            state = State.FAILED;
            LOG.log(Level.SEVERE, "loading " + subject + " failed: " + failure, e);
            return false;
        } finally {
            settled.countDown();
        }
    }

    /** Records a loading step (shown by {@link #describe()} while loading) and logs it. */
    public void progress(String step) {
        progress = step;
        LOG.info(step);
    }

    /** A consumer of loading steps that records each as {@link #progress} and then passes it on to {@code also}. */
    public Consumer<String> reporting(Consumer<String> also) {
        return also == null ? this::progress : step -> {
            progress(step);
            also.accept(step);
        };
    }

    public State state() {
        return state;
    }

    public boolean ready() {
        return value != null;
    }

    /** The loaded value, or null while loading, after a failure or after close. */
    public T orNull() {
        return value;
    }

    public Optional<T> ifReady() {
        return Optional.ofNullable(value);
    }

    /** Why loading failed, or null. */
    public String failure() {
        return failure;
    }

    /** "the model is loading (step)", "the model is ready", "the model failed to load: why". */
    public String describe() {
        return switch (state) {
            case LOADING -> subject + " is loading (" + progress + ")";
            case READY -> subject + " is ready";
            case FAILED -> subject + " failed to load: " + failure;
        };
    }

    /** Runs {@code listener} with the value once it is ready (at once, on this thread, if it already is). */
    public void onReady(Consumer<? super T> listener) {
        T v;
        synchronized (this) {
            v = value;
            if (v == null) {
                readyListeners.add(listener);
                return;
            }
        }
        listener.accept(v);
    }

    /** Waits until loading succeeded or failed; true when ready. */
    public boolean awaitSettled(Duration timeout) throws InterruptedException {
        return settled.await(timeout.toMillis(), TimeUnit.MILLISECONDS) && state == State.READY;
    }

    /** Releases the value if loaded; one still loading is released when it arrives. */
    @Override
    public void close() {
        T v;
        synchronized (this) {
            closed = true;
            v = value;
            value = null;
        }
        if (v != null) {
            closer.accept(v);
        }
    }
}
