package ai.viscpm.spark;

import ai.viscpm.VisCpmException;

/** The text a failed row gets in the error column: the kind of failure, then the runtime's message. */
final class RowErrors {
  private RowErrors() {}

  static String describe(Exception e) {
    String message = e.getMessage();
    if (e instanceof BadRowException) return message;
    return e.getClass().getSimpleName() + (message == null || message.isEmpty() ? "" : ": " + message);
  }

  /** Failures that belong to one row's input; anything else (a closed model, a bug) still fails the task. */
  static boolean isRowFailure(Exception e) {
    return e instanceof VisCpmException || e instanceof BadRowException;
  }

  /** Input a row cannot be processed with, found before reaching the runtime (a null cell). */
  static final class BadRowException extends Exception {
    private static final long serialVersionUID = 1L;

    BadRowException(String message) {
      super(message);
    }
  }
}
