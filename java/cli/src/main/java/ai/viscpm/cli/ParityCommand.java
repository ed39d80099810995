package ai.viscpm.cli;

import ai.viscpm.Device;
import ai.viscpm.engine.jvm.parity.JvmParity;
import ai.viscpm.engine.jvm.parity.ParityReport;
import ai.viscpm.testkit.CaseReport;
import ai.viscpm.testkit.ParitySuite;
import java.io.PrintWriter;
import java.nio.file.Path;
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
  java.util.List<String> kinds;

  @Option(names = {"-v", "--verbose"}, description = "print every check of every case")
  boolean verbose;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    switch (engine) {
      case "native" -> { }
      case "jvm" -> {
        return callJvm(out);
      }
      default -> throw new IllegalArgumentException("unknown engine '" + engine + "'; use native or jvm");
    }
    int passed = 0, failed = 0, skipped = 0;
    try (ParitySuite suite = ParitySuite.open(dir, Device.parse(device))) {
      if (kinds != null) {  // a typo must not run nothing and pass
        java.util.Set<String> known = new java.util.TreeSet<>(ParitySuite.implementedKinds());
        suite.cases().forEach(c -> known.add(c.kind()));
        for (String k : kinds)
          if (!known.contains(k)) throw new IllegalArgumentException("unknown case kind '" + k + "'; known kinds: " + known);
      }
      for (ParitySuite.CaseEntry entry : suite.cases()) {
        if (kinds != null && !kinds.contains(entry.kind())) continue;
        CaseReport report = suite.run(entry.index());
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
    }
    out.println(passed + " passed, " + failed + " failed, " + skipped + " skipped");
    return failed > 0 ? 1 : 0;
  }

  /** The same runner through the JVM engine: same lines, same totals, same exit status. */
  private Integer callJvm(PrintWriter out) throws Exception {
    if (Device.parse(device) != Device.CPU) {
      throw new IllegalArgumentException("the JVM engine runs on the CPU only (--device " + device + ")");
    }
    int passed = 0, failed = 0, skipped = 0;
    try (JvmParity suite = JvmParity.open(dir)) {
      if (kinds != null) {  // a typo must not run nothing and pass
        java.util.Set<String> known = new java.util.TreeSet<>(JvmParity.implementedKinds());
        suite.cases().forEach(c -> known.add(c.kind()));
        for (String k : kinds)
          if (!known.contains(k)) throw new IllegalArgumentException("unknown case kind '" + k + "'; known kinds: " + known);
      }
      for (JvmParity.CaseEntry entry : suite.cases()) {
        if (kinds != null && !kinds.contains(entry.kind())) continue;
        ParityReport report = suite.run(entry.index());
        out.println(report.line());
        if (verbose || report.status() == ParityReport.Status.FAIL) {
          for (ParityReport.Check c : report.checks()) {
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
    }
    out.println(passed + " passed, " + failed + " failed, " + skipped + " skipped");
    return failed > 0 ? 1 : 0;
  }
}
