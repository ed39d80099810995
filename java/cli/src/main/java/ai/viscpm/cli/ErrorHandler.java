package ai.viscpm.cli;

import ai.viscpm.VisCpmException;
import picocli.CommandLine;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.ParseResult;

/** Runtime errors become one clear line on stderr and exit status 2, not a stack trace. */
final class ErrorHandler implements IExecutionExceptionHandler {
  @Override
  public int handleExecutionException(Exception e, CommandLine cli, ParseResult parsed) {
    if (e instanceof VisCpmException v) {
      cli.getErr().println("error (" + v.code() + "): " + v.getMessage());
      return 2;
    }
    if (e instanceof IllegalArgumentException) {
      cli.getErr().println("error: " + e.getMessage());
      return 2;
    }
    throw new RuntimeException(e);
  }
}
