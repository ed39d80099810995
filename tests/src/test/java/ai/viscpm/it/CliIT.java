package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.cli.Main;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/** The CLI as a user runs it (same entry point as ./viscpm). */
class CliIT {
  private record Run(int status, String out, String err) {}

  private static Run cli(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int status = Main.run(new PrintWriter(out), new PrintWriter(err), args);
    return new Run(status, out.toString(), err.toString());
  }

  @Test
  void helpEverywhere() {
    for (String[] args : new String[][] {{"--help"}, {"inspect", "--help"}, {"parity", "--help"}}) {
      Run r = cli(args);
      assertEquals(0, r.status, String.join(" ", args));
      assertTrue(r.out.contains("Usage:"), r.out);
    }
  }

  @Test
  void inspectListsEveryTensorAndTotals() {
    Run r = cli("inspect", Fixtures.resolve("models/paint/viscpm_paint.pt").toString());
    assertEquals(0, r.status, r.err);
    assertTrue(r.out.contains("trans_block.w_out_res.weight"), r.out);
    assertTrue(r.out.contains("float16"), "llm.* is stored in float16: " + r.out);
    assertTrue(r.out.contains("torch-zip"), r.out);
    Run st = cli("inspect", Fixtures.resolve(
        "models/paint/stabilityai/stable-diffusion-2-1-base/vae/diffusion_pytorch_model.safetensors").toString());
    assertEquals(0, st.status, st.err);
    assertTrue(st.out.contains("decoder.mid_block.attentions.0.query.weight"), st.out);
    assertTrue(st.out.contains("safetensors"), st.out);
  }

  @Test
  void parityPrintsOneLinePerCaseAndTheTotals() {
    Run r = cli("parity", Fixtures.dir().toString(), "--kind", "checkpoint");
    assertEquals(0, r.status, r.out + r.err);
    assertTrue(r.out.contains("PASS checkpoint_chat checkpoint"), r.out);
    assertTrue(r.out.contains("PASS checkpoint_chat_extra_keys checkpoint"), r.out);
    assertTrue(r.out.strip().endsWith("3 passed, 0 failed, 0 skipped"), r.out);
  }

  @Test
  void userErrorsAreOneClearLine() {
    Run missing = cli("inspect", "/nonexistent/model.pt");
    assertEquals(2, missing.status);
    assertTrue(missing.err.startsWith("error (NOT_FOUND)"), missing.err);
    Run notFixtures = cli("parity", "/tmp");
    assertEquals(2, notFixtures.status);
    assertTrue(notFixtures.err.contains("manifest.json"), notFixtures.err);
    Run badDevice = cli("parity", Fixtures.dir().toString(), "--device", "tpu");
    assertEquals(2, badDevice.status);
    assertTrue(badDevice.err.contains("tpu"), badDevice.err);
  }
}
