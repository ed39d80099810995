package ai.viscpm.cli;

import ai.viscpm.Engine;
import ai.viscpm.InvalidInputException;
import ai.viscpm.ModelOptions;
import ai.viscpm.NativeOutOfMemoryException;
import ai.viscpm.chat.ChatAnswer;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "chat", mixinStandardHelpOptions = true,
    description = "Ask VisCPM-Chat about an image. With a question: answer once. Without: an interactive "
        + "multi-turn conversation (empty line or 'exit' to quit); the image is encoded once.")
final class ChatCommand implements Callable<Integer> {
  @Option(names = "--model", description = "model directory (checkpoint, cpm-bee.json, bee.txt; see models/README.md)")
  Path model;

  @Option(names = "--checkpoint", description = "checkpoint file (default: the one in --model)")
  Path checkpoint;

  @Option(names = "--vocab", description = "vocabulary bee.txt (default: in --model)")
  Path vocab;

  @Option(names = "--cpm-bee-config", description = "CPM-Bee config JSON (default: cpm-bee.json in --model)")
  Path cpmBeeConfig;

  @Option(names = "--beit3-config", description = "BEiT-3 config JSON (default: beit3.json in --model, else BEiT-3 large)")
  Path beit3Config;

  @Option(names = "--image", required = true, description = "PNG, JPEG, BMP or WebP image")
  Path image;

  @Parameters(arity = "0..1", paramLabel = "QUESTION", description = "the question (omit for interactive mode)")
  String question;

  @Option(names = "--beams", defaultValue = "3", description = "beam size (default: ${DEFAULT-VALUE})")
  int beams;

  @Option(names = "--greedy", description = "greedy decoding instead of beam search")
  boolean greedy;

  @Option(names = "--sample", description = "top-k/top-p sampling instead of beam search")
  boolean sample;

  @Option(names = "--top-k", defaultValue = "0", description = "sampling: keep the k best tokens (0 = all)")
  int topK;

  @Option(names = "--top-p", defaultValue = "1.0", description = "sampling: nucleus probability (1 = all)")
  float topP;

  @Option(names = "--seed", defaultValue = "0", description = "sampling seed")
  long seed;

  @Option(names = "--temperature", defaultValue = "0.7", description = "default: ${DEFAULT-VALUE}")
  float temperature;

  @Option(names = "--max-length", defaultValue = "512", description = "the reference's max_length (default: ${DEFAULT-VALUE}); "
      + "beam search answers can have max_length + 2 tokens, greedy and sampled ones max_length")
  int maxLength;

  @Option(names = "--max-tokens", description = "hard cap on answer tokens (the final end token included); overrides --max-length")
  Integer maxTokens;

  @Option(names = "--no-escape", description = "treat '<' in questions as CPM-Bee markup, as the reference does")
  boolean noEscape;

  @Option(names = {"-v", "--verbose"}, description = "show load time, time to first text, tokens/s and ms per token")
  boolean verbose;

  @Option(names = "--engine", defaultValue = "native",
      description = "native (libviscpm, the default) or jvm (the models written in Java on bytedeco's LibTorch API: "
          + "CPU, float32)")
  String engine;

  @Mixin ModelFlags flags;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (model == null && checkpoint == null) throw new IllegalArgumentException("give --model DIR (or --checkpoint FILE)");
    if (greedy && sample) throw new IllegalArgumentException("--greedy and --sample exclude each other");
    GenerationConfig.Builder b = GenerationConfig.builder().beamSize(beams).maxLength(maxLength)
        .temperature(temperature).escapeText(!noEscape);
    if (greedy) b.greedy();
    if (sample) b.sampling(topK, topP, seed);
    if (maxTokens != null) b.maxTokens(maxTokens);
    GenerationConfig config = b.build();
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    long t0 = System.nanoTime();
    ModelOptions options = flags.builder().engine(Engine.parse(engine)).build();
    try (ChatModel chat = ChatModel.load(model, checkpoint, cpmBeeConfig, beit3Config, vocab, options);
        ChatSession session = chat.newSession(image)) {
      if (verbose) err.printf("loaded model and encoded the image in %.2f s%n", (System.nanoTime() - t0) / 1e9);
      if (question != null) {
        turn(session, question, config, out, err);
        return 0;
      }
      BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      while (true) {
        out.print("> ");
        out.flush();
        String line = in.readLine();
        if (line == null || line.isBlank() || line.strip().equals("exit")) break;
        try {
          turn(session, line, config, out, err);
        } catch (InvalidInputException | NativeOutOfMemoryException e) {
          // A bad turn (too long, bad markup, too big) is refused; the conversation goes on unchanged.
          out.println();
          err.println("error (" + e.code() + "): " + e.getMessage());
        }
      }
    }
    return 0;
  }

  private void turn(ChatSession session, String q, GenerationConfig config, PrintWriter out, PrintWriter err)
      throws Exception {
    ChatAnswer answer = session.ask(q, config, text -> {
      out.print(text);
      out.flush();
      return true;
    });
    out.println();
    if (verbose) {
      err.printf("%d tokens, prompt %d tokens, first text after %.3f s, %.2f tokens/s"
              + " (%.1f ms per token, prefill included)%s%n", answer.tokenIds().length,
          answer.promptTokens(), answer.secondsToFirstText(), answer.tokensPerSecond(),
          answer.tokensPerSecond() > 0 ? 1000.0 / answer.tokensPerSecond() : 0.0,
          answer.endedWithEos() ? "" : " (cut at max length)");
    }
  }
}
