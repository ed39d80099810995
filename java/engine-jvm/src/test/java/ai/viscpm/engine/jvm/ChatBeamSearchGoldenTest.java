package ai.viscpm.engine.jvm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.viscpm.engine.jvm.parity.JvmParity;
import ai.viscpm.engine.jvm.parity.ParityReport;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The golden cases {@code chat_beam_search} (two VisCPM-Chat turns, the search traced step by
 * step: token-identical, the manifest's tolerances on the float values) and
 * {@code image_preprocess} through the JVM engine's runner (native/testkit/kinds/*.cpp).
 */
class ChatBeamSearchGoldenTest {
  static ParityReport run(String name) {
    Path root = GoldenCase.fixturesOrSkip();
    try (JvmParity parity = JvmParity.open(root)) {
      for (JvmParity.CaseEntry e : parity.cases()) {
        if (e.name().equals(name)) {
          ParityReport r = parity.run(e.index());
          System.out.println("JVM engine: " + r.line());
          for (ParityReport.Check c : r.checks()) {
            System.out.printf("    %s %s worst %.3e %s %s%n", c.pass() ? "ok  " : "FAIL", c.name(), c.worst(), c.where(),
                c.detail());
          }
          return r;
        }
      }
    } catch (ai.viscpm.VisCpmException e) {
      throw new AssertionError(e);
    }
    throw new AssertionError("the fixtures manifest has no case \"" + name + "\"");
  }

  @Test
  void chatBeamSearch() {
    ParityReport r = run("chat_beam_search");
    assertEquals(ParityReport.Status.PASS, r.status(), r.line());
  }

  @Test
  void imagePreprocess() {
    ParityReport r = run("image_preprocess");
    assertEquals(ParityReport.Status.PASS, r.status(), r.line());
  }
}
