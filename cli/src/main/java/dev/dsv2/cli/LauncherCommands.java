package dev.dsv2.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.concurrent.Callable;

/**
 * Commands the {@code ./dsv2} launcher script runs itself (they start the Quarkus services or drive them as
 * processes), listed here so that {@code ./dsv2 --help} shows every command. Reaching one of these classes means
 * the CLI jar was run directly instead of through the launcher.
 */
final class LauncherCommands {
    private LauncherCommands() {
    }

    abstract static class ViaLauncher implements Callable<Integer> {
        @Parameters(arity = "0..*", hidden = true)
        List<String> args;

        @Override
        public Integer call() {
            System.err.println("this command is run by the ./dsv2 launcher script at the repository root: ./dsv2 "
                    + getClass().getAnnotation(Command.class).name() + " --help");
            return 2;
        }
    }

    @Command(name = "serve", description = "Run the servers: the embedded all-in-one (default, a demo model when no "
            + "--model) or one distributed role (--role expert|router|gateway). ./dsv2 serve --help for the flags.")
    static final class Serve extends ViaLauncher {
    }

    @Command(name = "serve-local", description = "Start N expert shards, a router and a gateway as processes on this "
            + "machine: ./dsv2 serve-local --model DIR --shards N.")
    static final class ServeLocal extends ViaLauncher {
    }

    @Command(name = "bench-serving", description = "Decode tokens/s at concurrency 1, 8, 32: embedded vs gateway + "
            + "router + 2 expert shards on loopback, and the expert RPC share of the router's step time.")
    static final class BenchServing extends ViaLauncher {
    }

    @Command(name = "loadtest", description = "N streaming clients for M seconds with random cancellations against a "
            + "gateway on loopback: requests ok/failed, p50/p99 latency, KV blocks in use when idle, heap after GC.")
    static final class LoadTest extends ViaLauncher {
    }
}
