package ai.viscpm.cli;

import ai.viscpm.Device;
import ai.viscpm.engine.jvm.parity.JvmParity;
import ai.viscpm.engine.jvm.parity.ParityReport;
import ai.viscpm.testkit.CaseReport;
import ai.viscpm.testkit.ParitySuite;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "parity", mixinStandardHelpOptions = true,
    description = "Run the golden cases of a fixtures folder (manifest.json) and compare with the reference. "
        + "Prints one line per case and ends with 'N passed, N failed, N skipped'; exits 1 if any case failed.")
final class ParityCommand implements Callable<Integer> {
  @Parameters(paramLabel = "DIR", description = "fixtures folder holding manifest.json")
  Path dir;

  @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda (default: ${DEFAULT-VALUE})")
  String device;

  @Option(names = "--engine", defaultValue = "native",
      description = "native (libviscpm, the default) or jvm (the models written in Java on bytedeco's LibTorch API, "
          + "CPU only; kinds it does not implement are SKIP)")
  String engine;

  @Option(names = "--kind", description = "only cases of these kinds", split = ",")
  List<String> kinds;

  @Option(names = {"-v", "--verbose"}, description = "print every check of every case")
  boolean verbose;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    switch (engine) {
      case "native" -> {
        try (ParitySuite suite = ParitySuite.open(dir, Device.parse(device))) {
          List<Entry> cases = suite.cases().stream().map(c -> new Entry(c.index(), c.kind())).toList();
          return runAll(out, cases, ParitySuite.implementedKinds(), suite::run);
        }
      }
      case "jvm" -> {
        if (Device.parse(device) != Device.CPU) {
          throw new IllegalArgumentException("the JVM engine runs on the CPU only (--device " + device + ")");
        }
        try (JvmParity suite = JvmParity.open(dir)) {
          List<Entry> cases = suite.cases().stream().map(c -> new Entry(c.index(), c.kind())).toList();
          return runAll(out, cases, JvmParity.implementedKinds(), index -> asCaseReport(suite.run(index)));
        }
      }
      default -> throw new IllegalArgumentException("unknown engine '" + engine + "'; use native or jvm");
    }
  }

  private record Entry(int index, String kind) {}

  @FunctionalInterface
  private interface CaseRun {
    CaseReport run(int index) throws Exception;
  }

  /** Either engine's runner: one line per case (checks with -v or on FAIL), the totals, the exit status. */
  private int runAll(PrintWriter out, List<Entry> cases, List<String> implemented, CaseRun run) throws Exception {
    if (kinds != null) {  // a typo must not run nothing and pass
      Set<String> known = new TreeSet<>(implemented);
      cases.forEach(c -> known.add(c.kind()));
      for (String k : kinds)
        if (!known.contains(k)) throw new IllegalArgumentException("unknown case kind '" + k + "'; known kinds: " + known);
    }
    int passed = 0, failed = 0, skipped = 0;
    for (Entry entry : cases) {
      if (kinds != null && !kinds.contains(entry.kind())) continue;
      CaseReport report = run.run(entry.index());
      out.println(report.line());
      if (verbose || report.status() == CaseReport.Status.FAIL) {
        for (CaseReport.Check c : report.checks()) {
          if (verbose || !c.pass()) {
            out.printf("    %s %s worst %.3e %s %s%n", c.pass() ? "ok  " : "FAIL", c.name(), c.worst(), c.where(),
                c.detail());
          }
        }
      }
      out.flush();
      switch (report.status()) {
        case PASS -> passed++;
        case FAIL -> failed++;
        case SKIP -> skipped++;
      }
    }
    out.println(passed + " passed, " + failed + " failed, " + skipped + " skipped");
    return failed > 0 ? 1 : 0;
  }

  /** The JVM runner's report in the test kit's shape (the two records hold the same fields). */
  private static CaseReport asCaseReport(ParityReport r) {
    List<CaseReport.Check> checks = r.checks().stream()
        .map(c -> new CaseReport.Check(c.name(), c.pass(), c.worst(), c.where(), c.detail())).toList();
    return new CaseReport(r.name(), r.kind(), CaseReport.Status.valueOf(r.status().name()), r.summary(), r.seconds(),
        checks);
  }
}
