package ai.viscpm.engine.jvm.parity;

import java.util.List;

/**
 * The verdict on one golden case, in the native runner's form (native/testkit/parity).
 *
 * @param status PASS, FAIL or SKIP (kind not implemented in the JVM engine)
 * @param summary worst error and where (PASS), the first failing check (FAIL), or why skipped
 */
public record ParityReport(String name, String kind, Status status, String summary, double seconds,
                           List<Check> checks) {
  public enum Status { PASS, FAIL, SKIP }

  /**
   * One comparison of a case: a tensor, or a JSON document.
   *
   * @param worst worst absolute error (mismatch count for a failed JSON comparison)
   * @param where index of the worst element or path of the first mismatch
   */
  public record Check(String name, boolean pass, double worst, String where, String detail) {}

  /** The runner's one-line form: {@code PASS name kind  summary}, as the native runner prints it. */
  public String line() {
    return status + " " + name + " " + kind + (summary.isEmpty() ? "" : "  " + summary);
  }

  /** A number as the native runner prints it ({@code %.3e}). */
  static String number(double v) {
    if (Double.isInfinite(v)) return v > 0 ? "inf" : "-inf";
    if (Double.isNaN(v)) return "nan";
    return String.format(java.util.Locale.ROOT, "%.3e", v);
  }

  static ParityReport of(String name, String kind, List<Check> checks, double seconds) {
    boolean passed = !checks.isEmpty() && checks.stream().allMatch(Check::pass);
    if (passed) {
      Check worst = null;
      for (Check c : checks) {
        if (worst == null || c.worst() > worst.worst()) worst = c;
      }
      String summary = checks.size() + " checks, worst error " + number(worst.worst()) + " (" + worst.name()
          + (worst.where().isEmpty() ? "" : " at " + worst.where()) + ")";
      return new ParityReport(name, kind, Status.PASS, summary, seconds, checks);
    }
    Check bad = checks.stream().filter(c -> !c.pass()).findFirst().orElse(null);
    String summary = bad == null ? "no checks were made"
        : bad.name() + ": " + (bad.detail().isEmpty() ? "failed" : bad.detail())
            + (bad.where().isEmpty() ? "" : " (at " + bad.where() + ")");
    return new ParityReport(name, kind, Status.FAIL, summary, seconds, checks);
  }
}
