package ai.viscpm.engine.jvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.engine.jvm.parity.JvmParity;
import ai.viscpm.engine.jvm.parity.ParityReport;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The JVM engine's golden-case runner over the whole fixtures folder: every case of a kind it
 * implements passes, every other case is SKIP with the reason, and no case is left out.
 */
class JvmParityTest {
  @Test
  void everyImplementedCasePassesAndTheRestAreSkipped() throws Exception {
    List<String> failures = new ArrayList<>();
    int passed = 0;
    try (JvmParity parity = JvmParity.open(GoldenCase.fixturesOrSkip())) {
      List<String> implemented = JvmParity.implementedKinds();
      for (JvmParity.CaseEntry e : parity.cases()) {
        ParityReport r = parity.run(e.index());
        System.out.println("JVM engine: " + r.line());
        assertEquals(implemented.contains(r.kind()), r.status() != ParityReport.Status.SKIP, r.line());
        if (r.status() == ParityReport.Status.SKIP) {
          assertEquals("not implemented in the JVM engine", r.summary(), r.line());
        }
        if (r.status() == ParityReport.Status.FAIL) failures.add(r.line());
        if (r.status() == ParityReport.Status.PASS) passed++;
      }
    }
    assertTrue(failures.isEmpty(), "failing golden cases through the JVM engine:\n" + String.join("\n", failures));
    assertTrue(passed > 0, "no case passed");
  }
}
