package ai.viscpm.testkit;

import java.util.List;

/**
 * The verdict on one golden case.
 *
 * @param status PASS, FAIL or SKIP (kind not implemented by this build)
 * @param summary worst error and where (PASS), the first failing check (FAIL), or why skipped
 */
public record CaseReport(String name, String kind, Status status, String summary, double seconds,
    List<Check> checks) {
  public enum Status { PASS, FAIL, SKIP }

  /** One comparison of a case: a tensor, or a JSON document. */
  public record Check(String name, boolean pass, double worst, String where, String detail) {}

  /** The runner's one-line form: {@code PASS name kind summary}. */
  public String line() {
    return status + " " + name + " " + kind + (summary.isEmpty() ? "" : "  " + summary);
  }
}
