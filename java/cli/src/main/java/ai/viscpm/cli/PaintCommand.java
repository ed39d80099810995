package ai.viscpm.cli;

import ai.viscpm.Engine;
import ai.viscpm.ModelOptions;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.paint.PaintRequest;
import ai.viscpm.paint.PaintResult;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "paint", mixinStandardHelpOptions = true,
    description = "Paint with VisCPM-Paint: prompt (Chinese or English) in, PNG out. Several images are written as "
        + "numbered files (out-1.png, out-2.png, ...) or, with --grid, as one picture.")
final class PaintCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "model directory (see models/README.md)")
  Path model;

  @Option(names = "--checkpoint", description = "checkpoint file (default: the one in --model)")
  Path checkpoint;

  @Option(names = "--vocab", description = "vocabulary bee.txt (default: in --model)")
  Path vocab;

  @Option(names = "--prompt", required = true, description = "what to paint")
  String prompt;

  @Option(names = "--negative", defaultValue = "", description = "negative prompt (default: none)")
  String negative;

  @Option(names = "--scheduler", defaultValue = "ddpm",
      description = "ddpm (the reference), ddim, pndm, euler, euler_ancestral, dpmsolver_multistep (default: ${DEFAULT-VALUE})")
  String scheduler;

  @Option(names = "--steps", defaultValue = "50", description = "denoising steps (default: ${DEFAULT-VALUE})")
  int steps;

  @Option(names = "--guidance", defaultValue = "7.5", description = "classifier-free guidance scale (default: ${DEFAULT-VALUE})")
  float guidance;

  @Option(names = "--seed", description = "seed (default: random; printed so it can be reused)")
  Long seed;

  @Option(names = "--images", defaultValue = "1", description = "images per prompt, in one batch (default: ${DEFAULT-VALUE})")
  int images;

  @Option(names = "--size", defaultValue = "0", description = "width and height in pixels (default: the model's, 512)")
  int size;

  @Option(names = "--eta", defaultValue = "0", description = "DDIM eta (default: ${DEFAULT-VALUE})")
  float eta;

  @Option(names = "--grid", description = "write several images as one grid picture")
  boolean grid;

  @Option(names = "--out", required = true, description = "output PNG file")
  Path out;

  @Option(names = "--no-progress", description = "no progress bar")
  boolean noProgress;

  @Option(names = {"-v", "--verbose"}, description = "show the time of each phase: prompt encoding, denoising steps, VAE decode")
  boolean verbose;

  @Option(names = "--low-memory",
      description = "keep the CPM-Bee text encoder only while the prompt is encoded (reads its weights for every "
          + "image; peak memory: the larger of CPM-Bee and the UNet's working set, not their sum)")
  boolean lowMemory;

  @Option(names = "--engine", defaultValue = "native",
      description = "native (libviscpm, the default) or jvm (the models written in Java on bytedeco's LibTorch API: "
          + "CPU, float32, no --low-memory, DDIM with eta 0)")
  String engine;

  @Mixin ModelFlags flags;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter stdout = spec.commandLine().getOut();
    // Before the generation, not after it: where the picture goes must exist.
    if (java.nio.file.Files.isDirectory(out)) throw new IllegalArgumentException("--out " + out + " is a folder; give a .png file name");
    Path folder = out.toAbsolutePath().getParent();
    if (folder != null && !java.nio.file.Files.isDirectory(folder))
      throw new IllegalArgumentException("--out " + out + ": the folder " + folder + " does not exist");
    PaintRequest.Builder b = PaintRequest.builder(prompt).negativePrompt(negative).scheduler(scheduler).steps(steps)
        .guidanceScale(guidance).numImages(images).size(size, size).eta(eta);
    if (seed != null) b.seed(seed);
    ModelOptions options = flags.builder().lowMemory(lowMemory).engine(Engine.parse(engine)).build();
    try (PaintModel paint = PaintModel.load(model, checkpoint, vocab, options)) {
      PaintResult result;
      if (noProgress) {
        result = paint.generate(b.build());
      } else {
        try (ProgressBar bar = new ProgressBarBuilder().setTaskName("painting").setInitialMax(steps)
            .setStyle(ProgressBarStyle.ASCII).setUnit(" steps", 1).showSpeed().build()) {
          result = paint.generate(b.build(), (step, total) -> {
            bar.maxHint(total);
            bar.stepTo(step);
            return true;
          });
        }
      }
      List<Path> written = new ArrayList<>();
      if (result.count() == 1 || grid) {
        if (!ImageIO.write(result.count() == 1 ? result.toBufferedImage(0) : result.grid(), "png", out.toFile())) {
          throw new IllegalStateException("no PNG writer");
        }
        written.add(out);
      } else {
        String name = out.getFileName().toString();
        String stem = name.endsWith(".png") ? name.substring(0, name.length() - 4) : name;
        for (int i = 0; i < result.count(); i++) {
          Path file = out.resolveSibling(stem + "-" + (i + 1) + ".png");
          result.writePng(i, file);
          written.add(file);
        }
      }
      stdout.printf("wrote %s (%dx%d, %d steps, %s, seed %d, %.1f s, %.2f s/step)%n",
          written.size() == 1 ? written.get(0) : written, result.width(), result.height(), steps, scheduler,
          result.seed(), result.seconds(), result.seconds() / Math.max(1, steps));
      if (verbose) {
        PaintResult.Timings t = result.timings();
        double[] later = t.laterStepSeconds();
        double min = java.util.Arrays.stream(later).min().orElse(0), max = java.util.Arrays.stream(later).max().orElse(0);
        spec.commandLine().getErr().printf(
            "prompt encoding + step 1: %.3f s (prompt encoding about %.3f s); steps 2-%d: median %.3f s/step"
                + " (min %.3f, max %.3f); VAE decode: %.3f s%n",
            t.secondsUntilFirstStepEnd(), Math.max(0, t.secondsUntilFirstStepEnd() - t.medianStepSeconds()),
            later.length + 1, t.medianStepSeconds(), min, max, t.secondsAfterLastStep());
      }
    }
    return 0;
  }
}
