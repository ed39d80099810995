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

  @Test
  void aRequestTooLargeForMemoryIsOneTypedLine() {
    Run r = cli("chat", "--model", Fixtures.resolve("models/chat").toString(), "--checkpoint",
        Fixtures.resolve("models/chat/viscpm_chat.pt").toString(), "--vocab", Fixtures.resolve("vocab/bee.txt").toString(),
        "--image", Fixtures.resolve("cases/chat_beam_search/image.png").toString(), "--max-length", "1000000000", "hi");
    assertEquals(2, r.status, r.out + r.err);
    assertTrue(r.err.startsWith("error (OUT_OF_MEMORY): this answer's KV cache"), r.err);
    Run guidance = cli("paint", "--model", Fixtures.resolve("models/paint").toString(), "--vocab",
        Fixtures.resolve("vocab/bee.txt").toString(), "--prompt", "cat", "--size", "64", "--steps", "1",
        "--guidance", "1e30", "--out", "/tmp/viscpm-guidance.png");
    assertEquals(2, guidance.status, guidance.out + guidance.err);
    assertTrue(guidance.err.contains("guidance_scale must be between 0 and 100"), guidance.err);
  }

  /** In a conversation, an over-long question is refused for that turn and the next turn is answered. */
  @Test
  void anOverLongLineEndsOnlyThatTurnOfTheConversation() {
    String lines = "a ".repeat(5000) + "\nwhat is it?\nexit\n";
    java.io.InputStream stdin = System.in;
    Run r;
    try {
      System.setIn(new java.io.ByteArrayInputStream(lines.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
      r = cli("chat", "--model", Fixtures.resolve("models/chat").toString(), "--checkpoint",
          Fixtures.resolve("models/chat/viscpm_chat.pt").toString(), "--vocab", Fixtures.resolve("vocab/bee.txt").toString(),
          "--image", Fixtures.resolve("cases/chat_beam_search/image.png").toString(), "--max-tokens", "4");
    } finally {
      System.setIn(stdin);
    }
    assertEquals(0, r.status, r.out + r.err);
    assertTrue(r.err.contains("error (INVALID_ARGUMENT): the chat prompt is too long"), r.err);
    assertEquals(3, r.out.split("> ", -1).length - 1, r.out);  // three prompts: refused, answered, exit
  }

  /** A folder where a file belongs says so, for every file flag. */
  @Test
  void aFolderGivenForAFileSaysSo() {
    String chat = Fixtures.resolve("models/chat").toString();
    String image = Fixtures.resolve("cases/chat_beam_search/image.png").toString();
    String vocab = Fixtures.resolve("vocab/bee.txt").toString();
    String ckpt = Fixtures.resolve("models/chat/viscpm_chat.pt").toString();
    String[][] probes = {
        {"chat", "--model", chat, "--checkpoint", chat, "--vocab", vocab, "--image", image, "hi"},
        {"chat", "--model", chat, "--checkpoint", ckpt, "--vocab", chat, "--image", image, "hi"},
        {"chat", "--model", chat, "--checkpoint", ckpt, "--vocab", vocab, "--cpm-bee-config", chat, "--image", image, "hi"},
    };
    for (String[] probe : probes) {
      Run r = cli(probe);
      assertEquals(2, r.status, r.out + r.err);
      assertTrue(r.err.contains("is a directory"), String.join(" ", probe) + " -> " + r.err);
    }
  }

  @Test
  void inspectOfATensorWithTooManyDimensionsIsOneLine(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    Run r = cli("inspect", CheckpointIT.safetensorsOfRank(dir, 40).toString());
    assertEquals(2, r.status, r.out + r.err);
    assertTrue(r.err.startsWith("error (UNSUPPORTED)") && r.err.contains("40 dimensions; at most 16"), r.err);
    assertEquals(1, r.err.strip().lines().count(), r.err);
  }

  /** Mistakes on the command line are one clear line and exit 2, before any long work. */
  @Test
  void commandLineMistakesFailFastWithAClearLine() {
    Run typo = cli("parity", Fixtures.dir().toString(), "--kind", "checkpont");
    assertEquals(2, typo.status, typo.out + typo.err);
    assertTrue(typo.err.contains("unknown case kind 'checkpont'") && typo.err.contains("checkpoint"), typo.err);
    Run device = cli("paint", "--model", Fixtures.resolve("models/paint").toString(), "--vocab",
        Fixtures.resolve("vocab/bee.txt").toString(), "--prompt", "cat", "--out", "/tmp/x.png", "--device", "cuda:x");
    assertEquals(2, device.status, device.err);
    assertTrue(device.err.contains("cuda:N"), device.err);
    Run folder = cli("paint", "--model", Fixtures.resolve("models/paint").toString(), "--vocab",
        Fixtures.resolve("vocab/bee.txt").toString(), "--prompt", "cat", "--out", "/nonexistent-folder/cat.png");
    assertEquals(2, folder.status, folder.err);
    assertTrue(folder.err.contains("does not exist"), folder.err);
    Run dir = cli("paint", "--model", Fixtures.resolve("models/paint").toString(), "--vocab",
        Fixtures.resolve("vocab/bee.txt").toString(), "--prompt", "cat", "--out", System.getProperty("java.io.tmpdir"));
    assertEquals(2, dir.status, dir.err);
    assertTrue(dir.err.contains("is a folder"), dir.err);
  }

  /** ./viscpm serve as a process: it answers over HTTP and stops cleanly on SIGTERM. */
  @Test
  void serveAnswersAndStopsOnSigterm() throws Exception {
    java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("viscpm-serve-cli");
    ai.viscpm.testkit.DemoModels.writeChatModel(dir);
    String javaBin = java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString();
    java.nio.file.Path log = dir.resolve("serve.log");
    Process p = new ProcessBuilder(javaBin, "-cp", System.getProperty("java.class.path"), "ai.viscpm.cli.Main", "serve",
        "--chat-model", dir.toString(), "--port", "0").redirectErrorStream(true).redirectOutput(log.toFile()).start();
    try {
      var listening = java.util.regex.Pattern.compile("listening on http://127\\.0\\.0\\.1:(\\d+)/v1");
      int port = -1;
      for (int attempt = 0; attempt < 1200 && port < 0 && p.isAlive(); attempt++) {
        var m = listening.matcher(java.nio.file.Files.readString(log));
        if (m.find()) port = Integer.parseInt(m.group(1));
        else Thread.sleep(100);
      }
      assertTrue(port > 0, "the server printed where it listens");
      var client = java.net.http.HttpClient.newHttpClient();
      var health = client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + "/health"))
          .build(), java.net.http.HttpResponse.BodyHandlers.ofString());
      assertEquals(200, health.statusCode());
      var models = client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + "/v1/models"))
          .build(), java.net.http.HttpResponse.BodyHandlers.ofString());
      assertTrue(models.body().contains("viscpm-chat"), models.body());
      p.destroy();  // SIGTERM
      assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "stops after SIGTERM");
      String output = java.nio.file.Files.readString(log);
      assertTrue(output.contains("GET /health 200"), "one log line per request: " + output);
      assertTrue(output.contains("stopping"), output);
    } finally {
      p.destroyForcibly();
    }
  }
}
