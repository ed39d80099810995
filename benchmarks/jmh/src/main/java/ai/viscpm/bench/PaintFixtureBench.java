package ai.viscpm.bench;

import ai.viscpm.paint.PaintModel;
import ai.viscpm.paint.PaintRequest;
import ai.viscpm.paint.PaintResult;
import ai.viscpm.engine.jvm.PaintPipeline;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.Tensor;
import org.openjdk.jmh.annotations.*;

/**
 * VisCPM-Paint on the fixture paint model ({@code shared/fixtures/models/paint}: CPM-Bee dim
 * 16, the fixture's small UNet and VAE) at 64x64 (8x8 latents), ddpm, guidance 7.5, seed 42,
 * one image, through each engine: the native {@code PaintModel.generate} and the JVM engine's
 * {@code PaintPipeline.generate}. Neither exposes the UNet step or the VAE decode alone through
 * a common interface (the native C API stops at the whole generation), so the UNet step with
 * guidance (batch 2) is (T(steps=4) - T(steps=1)) / 3, and T(1) less one step is the rest: two
 * CPM-Bee prompt encodes, the trans block, the latents and the VAE decode.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class PaintFixtureBench {
  static final String PROMPT = "一只戴着红色帽子的橘猫";
  static final int SIZE = 64;
  static final long SEED = 42;

  @Param({"native", "jvm"})
  public String engine;

  @Param({"1", "4"})
  public int steps;

  private PaintModel nativeModel;
  private PaintPipeline jvmPipeline;
  private PaintRequest nativeRequest;
  private PaintPipeline.Request jvmRequest;

  @Setup(Level.Trial)
  public void load() throws Exception {
    Env.init();
    Path f = Env.fixtures();
    Path dir = f.resolve("models/paint");
    Path sd = dir.resolve("stabilityai/stable-diffusion-2-1-base");
    if (engine.equals("native")) {
      nativeModel = PaintModel.load(dir, dir.resolve("viscpm_paint.pt"), f.resolve("vocab/bee.txt"),
          ai.viscpm.ModelOptions.defaults());
      nativeRequest = PaintRequest.builder(PROMPT).negativePrompt("").scheduler("ddpm").size(SIZE, SIZE).steps(steps)
          .guidanceScale(7.5f).numImages(1).seed(SEED).build();
    } else {
      jvmPipeline = PaintPipeline.load(dir.resolve("viscpm_paint.pt"), dir.resolve("cpm-bee.json"),
          f.resolve("vocab/bee.txt"), sd.resolve("unet/config.json"), sd.resolve("vae"),
          sd.resolve("scheduler/scheduler_config.json"));
      jvmRequest = new PaintPipeline.Request(PROMPT, "", 7.5, steps, SIZE, SIZE, SEED, 1, "ddpm");
    }
    describe();
  }

  /** One untimed generation whose byte sum is printed: the two engines must give the same image. */
  private void describe() throws Exception {
    long sum = 0;
    if (nativeModel != null) {
      java.nio.ByteBuffer b = nativeModel.generate(nativeRequest).rgb(0);
      while (b.hasRemaining()) sum += b.get() & 0xff;
    } else {
      Tensor image = jvmPipeline.generate(jvmRequest, null);
      byte[] bytes = new byte[(int) image.numel()];
      new org.bytedeco.javacpp.BytePointer(image.data_ptr()).capacity(bytes.length).get(bytes);
      for (byte v : bytes) sum += v & 0xff;
      image.close();
    }
    System.out.printf("[paint] %s steps %d: image byte sum %d%n", engine, steps, sum);
  }

  @TearDown(Level.Trial)
  public void close() {
    if (nativeModel != null) nativeModel.close();
    if (jvmPipeline != null) jvmPipeline.close();
  }

  @Benchmark
  public Object generate() throws Exception {
    Env.adoptThreads();
    if (nativeModel != null) {
      PaintResult r = nativeModel.generate(nativeRequest);
      return r;
    }
    Tensor image = jvmPipeline.generate(jvmRequest, null);
    long n = image.numel();
    image.close();
    return n;
  }
}
