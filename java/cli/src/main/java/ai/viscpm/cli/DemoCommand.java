package ai.viscpm.cli;

import ai.viscpm.ModelOptions;
import ai.viscpm.chat.ChatAnswer;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.paint.PaintRequest;
import ai.viscpm.paint.PaintResult;
import ai.viscpm.testkit.DemoModels;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "Run the whole stack without downloading anything: build tiny models with RANDOM weights "
        + "(and a generated vocabulary) with the project's own code, save them in the real checkpoint formats, "
        + "load them back, answer one chat turn about a generated picture and paint one small image. "
        + "The outputs are meaningless because the weights are random.")
final class DemoCommand implements Callable<Integer> {
  @Option(names = "--dir", description = "where to write the demo models and outputs (default: a new temporary folder)")
  Path dir;

  @Option(names = "--question", defaultValue = "What is in the picture?", description = "default: ${DEFAULT-VALUE}")
  String question;

  @Option(names = "--prompt", defaultValue = "一只戴着红色帽子的橘猫 oil painting", description = "default: ${DEFAULT-VALUE}")
  String prompt;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    Path root = dir != null ? Files.createDirectories(dir) : Files.createTempDirectory("viscpm-demo");
    out.println("NOTE: demo models have RANDOM weights; their answers and pictures are noise, not model quality.");

    Path chatDir = root.resolve("chat-model");
    long t0 = System.nanoTime();
    DemoModels.writeChatModel(chatDir);
    out.printf("wrote a tiny random VisCPM-Chat model to %s (%.1f s)%n", chatDir, (System.nanoTime() - t0) / 1e9);
    try (ChatModel chat = ChatModel.load(chatDir, ModelOptions.defaults());
        ChatSession session = chat.newSession(demoPicture())) {
      out.println("User: " + question);
      out.print("AI: ");
      ChatAnswer answer = session.ask(question, GenerationConfig.builder().maxTokens(24).build(), text -> {
        out.print(text);
        out.flush();
        return true;
      });
      out.println();
      out.printf("(%d tokens, %.2f tokens/s, beam search with 3 beams)%n", answer.tokenIds().length,
          answer.tokensPerSecond());
    }

    Path paintDir = root.resolve("paint-model");
    t0 = System.nanoTime();
    DemoModels.writePaintModel(paintDir);
    out.printf("wrote a tiny random VisCPM-Paint model to %s (%.1f s)%n", paintDir, (System.nanoTime() - t0) / 1e9);
    try (PaintModel paint = PaintModel.load(paintDir)) {
      int side = Math.max(64, paint.sizeMultiple());
      PaintResult result = paint.generate(PaintRequest.builder(prompt).size(side, side).steps(4).seed(42).build(),
          (step, total) -> {
            out.printf("  denoising step %d/%d%n", step, total);
            out.flush();
            return true;
          });
      Path png = root.resolve("demo-paint.png");
      result.writePng(0, png);
      out.printf("painted \"%s\" -> %s (%dx%d, DDPM, 4 steps, seed 42, %.1f s)%n", prompt, png, result.width(),
          result.height(), result.seconds());
    }
    return 0;
  }

  /** A small synthetic picture: a sky gradient over a green field with a sun. */
  static BufferedImage demoPicture() {
    BufferedImage img = new BufferedImage(96, 64, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < img.getHeight(); y++) {
      for (int x = 0; x < img.getWidth(); x++) {
        int rgb;
        if ((x - 70) * (x - 70) + (y - 15) * (y - 15) < 80) rgb = 0xffd700;
        else if (y > 40) rgb = 0x2e8b57;
        else rgb = (0x40 + y * 2) << 16 | (0x80 + y * 2) << 8 | 0xff;
        img.setRGB(x, y, rgb);
      }
    }
    return img;
  }
}
