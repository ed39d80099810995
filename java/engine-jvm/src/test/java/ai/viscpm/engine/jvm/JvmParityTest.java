package ai.viscpm.engine.jvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import ai.viscpm.engine.jvm.parity.JvmParity;
import ai.viscpm.engine.jvm.parity.ParityReport;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Every golden case of the fixtures folder through the JVM engine's runner (the same runner
 * `./viscpm parity --engine jvm` uses, with the manifest's tolerances), one test per case: a
 * case of a kind the engine implements passes, any other is SKIP with the reason.
 */
class JvmParityTest {
  private static JvmParity parity;

  @TestFactory
  List<DynamicTest> everyGoldenCase() throws Exception {
    parity = JvmParity.open(GoldenCase.fixturesOrSkip());
    List<String> implemented = JvmParity.implementedKinds();
    List<DynamicTest> tests = new ArrayList<>();
    for (JvmParity.CaseEntry e : parity.cases()) {
      tests.add(DynamicTest.dynamicTest(e.name() + " (" + e.kind() + ")", () -> {
        ParityReport r = parity.run(e.index());
        System.out.println("JVM engine: " + r.line());
        if (implemented.contains(e.kind())) {
          assertEquals(ParityReport.Status.PASS, r.status(), r.line());
        } else {
          assertEquals(ParityReport.Status.SKIP, r.status(), r.line());
          assertEquals("not implemented in the JVM engine", r.summary(), r.line());
        }
      }));
    }
    assertNotEquals(0, tests.size(), "the manifest lists no case");
    return tests;
  }

  @AfterAll
  static void close() {
    if (parity != null) parity.close();
  }
}
