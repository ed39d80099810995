package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.cli.Main;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** {@code ./viscpm parity --engine jvm}: the golden cases through the JVM engine, in the native runner's format. */
class ParityJvmEngineIT {
  private static final Pattern LINE = Pattern.compile("^(PASS|FAIL|SKIP) (\\S+) (\\S+)(  .*)?$");
  private static final Pattern TOTALS = Pattern.compile("^(\\d+) passed, (\\d+) failed, (\\d+) skipped$");

  private record Run(int status, String out, String err) {
    List<String> lines() {
      return out.strip().lines().toList();
    }
  }

  private static Run cli(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int status = Main.run(new PrintWriter(out), new PrintWriter(err), args);
    return new Run(status, out.toString(), err.toString());
  }

  /** Every case, one line each in manifest order, the models' cases PASS, the others SKIP with the reason. */
  @Test
  void everyCaseOneLineAndTheJvmKindsPass() {
    Run jvm = cli("parity", "--engine", "jvm", Fixtures.dir().toString());
    System.out.println(jvm.out);
    assertEquals(0, jvm.status, jvm.out + jvm.err);
    List<String> lines = jvm.lines();
    Matcher totals = TOTALS.matcher(lines.get(lines.size() - 1));
    assertTrue(totals.matches(), jvm.out);
    assertEquals("0", totals.group(2), jvm.out);
    List<String> names = new ArrayList<>();
    for (String line : lines.subList(0, lines.size() - 1)) {
      Matcher m = LINE.matcher(line);
      assertTrue(m.matches(), "not a case line: " + line);
      names.add(m.group(2));
      if (m.group(1).equals("SKIP")) assertEquals("  not implemented in the JVM engine", m.group(4), line);
    }
    assertEquals(lines.size() - 1, Integer.parseInt(totals.group(1)) + Integer.parseInt(totals.group(3)), jvm.out);
    for (String kind : List.of("chat_beam_search", "cpmbee_forward", "cpmbee_incremental", "beit3_forward",
        "image_preprocess", "trans_block", "unet_forward", "vae_decode", "paint_input", "paint_pipeline")) {
      assertTrue(jvm.out.contains("PASS " + kind + " " + kind + "  "), kind + ":\n" + jvm.out);
    }
    assertTrue(jvm.out.contains("PASS scheduler_ddpm scheduler  "), jvm.out);
    assertTrue(jvm.out.contains("PASS chat_input_1 chat_input  "), jvm.out);
    assertTrue(jvm.out.contains("SKIP checkpoint_chat checkpoint  not implemented in the JVM engine"), jvm.out);

    // The same cases in the same order as the native runner (whose output is unchanged).
    Run nat = cli("parity", Fixtures.dir().toString(), "--kind", "checkpoint");
    assertEquals(0, nat.status, nat.out + nat.err);
    assertTrue(nat.out.strip().endsWith("3 passed, 0 failed, 0 skipped"), nat.out);
    assertTrue(names.containsAll(List.of("checkpoint_chat", "checkpoint_chat_extra_keys", "checkpoint_paint")), jvm.out);
  }

  /** One case through both engines: both PASS, the line starts the same way. */
  @Test
  void chatBeamSearchPassesThroughBothEngines() {
    Run jvm = cli("parity", "--engine", "jvm", "--kind", "chat_beam_search", "-v", Fixtures.dir().toString());
    Run nat = cli("parity", "--engine", "native", "--kind", "chat_beam_search", Fixtures.dir().toString());
    assertEquals(0, jvm.status, jvm.out + jvm.err);
    assertEquals(0, nat.status, nat.out + nat.err);
    assertTrue(jvm.out.startsWith("PASS chat_beam_search chat_beam_search  2 checks, worst error "), jvm.out);
    assertTrue(nat.out.startsWith("PASS chat_beam_search chat_beam_search  "), nat.out);
    assertTrue(jvm.out.contains("    ok   json worst "), "-v prints every check: " + jvm.out);
    assertTrue(jvm.out.contains("    ok   vision_hidden_states worst "), jvm.out);
    assertTrue(jvm.out.strip().endsWith("1 passed, 0 failed, 0 skipped"), jvm.out);
  }

  @Test
  void mistakesAreOneClearLine() {
    Run engine = cli("parity", "--engine", "gpu", Fixtures.dir().toString());
    assertEquals(2, engine.status, engine.out + engine.err);
    assertTrue(engine.err.contains("unknown engine 'gpu'"), engine.err);
    Run device = cli("parity", "--engine", "jvm", "--device", "cuda", Fixtures.dir().toString());
    assertEquals(2, device.status, device.out + device.err);
    assertTrue(device.err.contains("CPU only"), device.err);
    Run typo = cli("parity", "--engine", "jvm", Fixtures.dir().toString(), "--kind", "checkpont");
    assertEquals(2, typo.status, typo.out + typo.err);
    assertTrue(typo.err.contains("unknown case kind 'checkpont'"), typo.err);
    Run notFixtures = cli("parity", "--engine", "jvm", "/tmp");
    assertEquals(2, notFixtures.status, notFixtures.out + notFixtures.err);
    assertTrue(notFixtures.err.contains("manifest.json"), notFixtures.err);
  }
}
