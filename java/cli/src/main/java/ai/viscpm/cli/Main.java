package ai.viscpm.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code viscpm} command line. */
@Command(name = "viscpm", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
    description = "VisCPM on the JVM: native CPM-Bee chat and paint runtime.",
    subcommands = {ChatCommand.class, PaintCommand.class, ServeCommand.class, DemoCommand.class, InspectCommand.class, QuantizeCommand.class, ParityCommand.class,
        CommandLine.HelpCommand.class})
public final class Main {
  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs the CLI and returns the exit status (tests call this instead of main). */
  public static int run(String... args) {
    return run(new java.io.PrintWriter(System.out, true), new java.io.PrintWriter(System.err, true), args);
  }

  /** Runs the CLI with its output and errors sent to the given writers. */
  public static int run(java.io.PrintWriter out, java.io.PrintWriter err, String... args) {
    CommandLine cli = new CommandLine(new Main());
    cli.setOut(out);
    cli.setErr(err);
    cli.setExecutionExceptionHandler(new ErrorHandler());
    int status = cli.execute(args);
    out.flush();
    err.flush();
    return status;
  }
}
