package dev.dsv2.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code ./dsv2} launcher: one sub-command per user-facing task. */
@Command(name = "dsv2", mixinStandardHelpOptions = true, version = "dsv2 0.1.0",
        description = "DeepSeek-V2 family inference: make random checkpoints, generate, tokenize, benchmark, quantize "
                + "to int8, plan expert placement, serve, check the CUDA kernels.",
        subcommands = {MakeModelCommand.class, GenerateCommand.class, TokenizeCommand.class, BenchCommand.class,
                QuantizeCommand.class, Int8ErrorCommand.class, SelfcheckCommand.class, PlacementCommand.class,
                LauncherCommands.Serve.class, LauncherCommands.ServeLocal.class, LauncherCommands.BenchServing.class,
                LauncherCommands.LoadTest.class,
                CommandLine.HelpCommand.class})
public final class Main {
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit code (tests call this instead of {@link #main}). */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("error: " + ex.getMessage());
            if (Boolean.getBoolean("dsv2.debug")) {
                ex.printStackTrace(cmd.getErr());
            }
            return 1;
        });
        return cli.execute(args);
    }
}
