package dev.dsv2.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * One packaged dsv2 service (a Quarkus fast-jar) running as a child JVM on loopback, with its log in
 * {@code target/it-logs}. Started with configuration keys of the service contract as system properties.
 */
public final class ServiceProcess implements AutoCloseable {
    /** The repository root: {@code -Ddsv2.root}, else the parent of the working directory (a module directory). */
    public static final Path ROOT = Path.of(System.getProperty("dsv2.root", "..")).toAbsolutePath().normalize();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    public final String name;
    public final int httpPort;
    public final int grpcPort;
    private final Process process;
    private final Path log;
    private final List<String> command;

    private ServiceProcess(String name, int httpPort, int grpcPort, Process process, Path log, List<String> command) {
        this.name = name;
        this.httpPort = httpPort;
        this.grpcPort = grpcPort;
        this.process = process;
        this.log = log;
        this.command = List.copyOf(command);
    }

    /**
     * A port nothing listens on now, for a child service to bind a few seconds later. Taken below the kernel's
     * ephemeral range (ip_local_port_range, where the OS picks the source ports of outgoing connections and where
     * {@code new ServerSocket(0)} would pick too), so that no connection opened meanwhile, by any process, can take it
     * first (a child then failed to start with "Port ... seems to be in use"); and never handed out twice by this JVM.
     * Where the range leaves no room below it, an OS-chosen port.
     */
    public static int freePort() {
        int low = ephemeralLow();
        int from = Math.max(10_000, low - 12_000);
        if (low - from >= 1_000) {
            int span = low - from;
            int start = ThreadLocalRandom.current().nextInt(span);
            for (int i = 0; i < span; i++) {
                int port = from + (start + i) % span;
                if (HANDED_OUT.add(port)) {
                    try (ServerSocket s = new ServerSocket(port)) {
                        return s.getLocalPort();
                    } catch (IOException busy) {
                        // in use: try the next one
                    }
                }
            }
        }
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static final Set<Integer> HANDED_OUT = ConcurrentHashMap.newKeySet();

    /** The first port of the kernel's ephemeral range (Linux), else 49152 (IANA's dynamic range). */
    private static int ephemeralLow() {
        try {
            String range = Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).trim();
            return Integer.parseInt(range.split("\\s+")[0]);
        } catch (IOException | RuntimeException e) {
            return 49152;
        }
    }

    /** Starts {@code module}'s fast-jar with {@code props} (+ ports) as {@code -D} system properties. */
    public static ServiceProcess start(String name, String module, Map<String, String> props) {
        return start(name, module, props, List.of("-Xmx1g", "-Ddsv2.threads=1"));
    }

    /** As {@link #start(String, String, Map)}, with the given extra JVM flags. */
    public static ServiceProcess start(String name, String module, Map<String, String> props, List<String> jvmFlags) {
        Path jar = ROOT.resolve(module).resolve("target/quarkus-app/quarkus-run.jar");
        if (!Files.exists(jar)) {
            throw new IllegalStateException(jar + " is missing: build the services first (./mvnw package)");
        }
        int http = freePort();
        int grpc = freePort();
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-Xss4m", "-Dquarkus.http.port=" + http,
                "-Dquarkus.grpc.server.port=" + grpc));
        if (!picksCollector(jvmFlags)) {
            // As the launcher does (./dsv2 serve): the served model ran 5-25% slower under G1 (docs/performance.md).
            cmd.add("-XX:+UseParallelGC");
        }
        cmd.addAll(jvmFlags);
        props.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
        cmd.add("-jar");
        cmd.add(jar.toString());
        return launch(name, http, grpc, cmd);
    }

    /** Whether the flags or {@code JAVA_TOOL_OPTIONS} select a garbage collector (a second one stops the JVM). */
    static boolean picksCollector(List<String> jvmFlags) {
        String tool = System.getenv().getOrDefault("JAVA_TOOL_OPTIONS", "");
        return (String.join(" ", jvmFlags) + " " + tool).matches("(?s).*-XX:\\+Use[A-Za-z0-9]+GC.*");
    }

    private static ServiceProcess launch(String name, int http, int grpc, List<String> cmd) {
        try {
            Path logs = Files.createDirectories(Path.of(System.getProperty("dsv2.logs", "target/it-logs")));
            Path log = logs.resolve(name + ".log");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
            return new ServiceProcess(name, http, grpc, p, log, cmd);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Kills the process as {@code kill -9} would (no shutdown hooks run) and waits for it to be gone. */
    public void kill() throws InterruptedException {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }

    /** Sends SIGTERM (a graceful shutdown) and returns at once. */
    public void terminate() {
        process.destroy();
    }

    /** Waits for the process to exit; its exit code, or -1 if it did not within {@code timeout}. */
    public int awaitExit(Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS) ? process.exitValue() : -1;
    }

    /** The same service again, on the same ports, after it was killed (its log continues). */
    public ServiceProcess restart() {
        if (process.isAlive()) {
            throw new IllegalStateException(name + " is still running");
        }
        return launch(name, httpPort, grpcPort, command);
    }

    public String grpcAddress() {
        return "127.0.0.1:" + grpcPort;
    }

    /** Waits until {@code /q/health/ready} answers 200, failing with the service's log tail if it dies or times out. */
    public void awaitReady(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException(name + " exited with " + process.exitValue() + ":\n" + logTail());
            }
            try {
                HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + httpPort + "/q/health/ready")).timeout(Duration.ofSeconds(2))
                        .build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    return;
                }
                if (r.body().contains("\"FAILED\"")) {
                    throw new IllegalStateException(name + " failed to start: " + r.body());
                }
            } catch (IOException e) {
                // not listening yet
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            sleep(250);
        }
        throw new IllegalStateException(name + " not ready after " + timeout + ":\n" + logTail());
    }

    /** The service's Prometheus metrics text. */
    public String metrics() throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + "/q/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }

    String logTail() {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
