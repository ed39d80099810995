package ai.viscpm.spark;

/**
 * A row VisCPM could not caption or paint, in fail-fast mode: it fails the task, and Spark
 * fails the job with this message (the row, the column and the runtime's reason). Unchecked,
 * because Spark's row iterators cannot throw checked exceptions.
 */
public final class RowFailedException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  RowFailedException(String operation, String column, int partition, long row, String reason, Throwable cause) {
    super("VisCPM " + operation + " failed on row " + row + " of partition " + partition + " (column '" + column
        + "'): " + reason + ". failFast is on; build the options with failFast(false) to get a null result and the "
        + "reason in the error column instead", cause);
  }
}
