package ai.viscpm.engine.jvm;

import ai.viscpm.Checkpoint;
import ai.viscpm.InvalidInputException;
import ai.viscpm.VisCpmException;
import ai.viscpm.internal.NativeLibrary;
import ai.viscpm.text.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * VisCPM-Paint's generation path in Java (paint.md, without the optional safety checkers and
 * CLIP ranker): {caption, objects} inputs for the prompt and the negative prompt, CPM-Bee's
 * full forward on each (padded positions included: the UNet context has no mask), the trans
 * block, context {@code cat([uncond, cond])}, initial latents {@code randn · init_noise_sigma}
 * from one CPU generator seeded with the request's seed, the denoising loop (UNet on {@code
 * cat([x, x])}, guidance {@code u + g·(c - u)}, scheduler step drawing from the same
 * generator), then the VAE decode and the uint8 conversion. Owns its models.
 */
public final class PaintPipeline implements AutoCloseable {
  /** What one generation asks for. {@code scheduler}: a {@link Scheduler} name ("ddpm" is the reference's). */
  public record Request(String prompt, String negativePrompt, double guidanceScale, int steps, int width, int height,
                        long seed, int images, String scheduler) {
    public static Request of(String prompt, int steps, int size, long seed) {
      return new Request(prompt, "", 7.5, steps, size, size, seed, 1, "ddpm");
    }
  }

  /** The intermediates of one generation (held handles; close() frees them). */
  public static final class Trace implements AutoCloseable {
    public Tensor condHiddenStates, uncondHiddenStates, encoderHiddenStates, initialLatents;
    public double[] timesteps;
    public final List<Tensor> unetInputs = new ArrayList<>(), unetOutputs = new ArrayList<>(),
        latentsAfterStep = new ArrayList<>(), schedulerNoise = new ArrayList<>();

    @Override
    public void close() {
      for (Tensor t : new Tensor[] {condHiddenStates, uncondHiddenStates, encoderHiddenStates, initialLatents}) {
        if (t != null) t.close();
      }
      for (List<Tensor> list : List.of(unetInputs, unetOutputs, latentsAfterStep, schedulerNoise)) {
        for (Tensor t : list) t.close();
        list.clear();
      }
    }
  }

  private final Tokenizer tokenizer;
  private final CpmBee bee;
  private final TransBlock transBlock;
  private final Unet unet;
  private final VaeDecoder vae;
  private final SchedulerConfig schedulerConfig;
  private volatile boolean closed;

  private PaintPipeline(Tokenizer tokenizer, CpmBee bee, TransBlock transBlock, Unet unet, VaeDecoder vae,
      SchedulerConfig schedulerConfig) {
    this.tokenizer = tokenizer;
    this.bee = bee;
    this.transBlock = transBlock;
    this.unet = unet;
    this.vae = vae;
    this.schedulerConfig = schedulerConfig;
  }

  /**
   * The parts of a VisCPM-Paint model: the checkpoint ({@code llm.*}, {@code trans_block.*},
   * {@code unet.*}), cpm-bee.json, the CPM-Bee vocabulary, the UNet config, the VAE folder and the
   * scheduler config. float32 throughout (the fixtures' and the reference's diffusion dtype).
   */
  public static PaintPipeline load(Path checkpointFile, Path cpmBeeConfig, Path vocabulary, Path unetConfig, Path vaeDir,
      Path schedulerConfigFile) throws VisCpmException {
    Torch.load();
    List<AutoCloseable> parts = new ArrayList<>();
    boolean done = false;
    try {
      Tokenizer tokenizer = add(parts, Tokenizer.load(vocabulary));
      SchedulerConfig schedulerConfig = SchedulerConfig.load(schedulerConfigFile);
      VaeDecoder vae = add(parts, VaeDecoder.load(vaeDir, ScalarType.Float));
      CpmBee bee;
      TransBlock block;
      Unet unet;
      try (Checkpoint checkpoint = Checkpoint.open(checkpointFile)) {
        bee = add(parts, CpmBee.load(CpmBeeConfig.load(cpmBeeConfig), checkpoint, "llm.", ScalarType.Float));
        block = add(parts, TransBlock.load(checkpoint, "trans_block.", ScalarType.Float));
        unet = add(parts, Unet.load(UnetConfig.load(unetConfig), checkpoint, "unet.", ScalarType.Float));
      }
      PaintPipeline p = new PaintPipeline(tokenizer, bee, block, unet, vae, schedulerConfig);
      done = true;
      return p;
    } finally {
      if (!done) {
        for (int i = parts.size() - 1; i >= 0; i--) {
          try {
            parts.get(i).close();
          } catch (Exception ignored) {
            // closing what was loaded before the failure
          }
        }
      }
    }
  }

  private static <T extends AutoCloseable> T add(List<AutoCloseable> parts, T part) {
    parts.add(part);
    return part;
  }

  /** Pixels per latent along each side times the UNet's factor: image sides must be multiples of it. */
  public long sizeMultiple() {
    return vae.config().downsamplingFactor() * unet.config().downsamplingFactor();
  }

  /**
   * Paints {@code request.images()} images: uint8 {@code [N, H, W, 3]}, owned by the caller.
   * {@code trace} (may be null) receives the intermediates.
   */
  public Tensor generate(Request request, Trace trace) throws VisCpmException {
    return generate(request, trace, null);
  }

  /** Hears the end of each denoising step ({@code step} from 1 to {@code total}); false cancels. */
  @FunctionalInterface
  public interface Progress {
    boolean onStep(int step, int total) throws VisCpmException;
  }

  /**
   * {@link #generate(Request, Trace)}; {@code progress} (optional) hears every step and may
   * cancel ({@link ai.viscpm.CancelledException}) before the next one.
   */
  public Tensor generate(Request request, Trace trace, Progress progress) throws VisCpmException {
    if (closed) throw new IllegalStateException("the paint pipeline is closed");
    check(request);
    NativeLibrary.adoptProcessThreadCount();
    final long n = request.images(), f = vae.config().downsamplingFactor();
    List<Pointer> temps = new ArrayList<>();  // results of the parts' entry points (each owned here)
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode();
        Scheduler scheduler = Scheduler.create(request.scheduler(), schedulerConfig)) {
      PaintPrompt prompt = PaintPrompt.build(tokenizer, request.prompt(), request.negativePrompt());
      Tensor cond = encode(prompt.cond(), temps), uncond = encode(prompt.uncond(), temps);
      if (trace != null) {
        trace.condHiddenStates = hold(cond);
        trace.uncondHiddenStates = hold(uncond);
      }
      Tensor condContext = temp(temps, transBlock.forward(cond)), uncondContext = temp(temps, transBlock.forward(uncond));
      // The unconditional half first, each repeated once per image.
      Tensor context = Torch.cat(0, uncondContext.expand(n, prompt.length(), transBlock.dimOut()),
          condContext.expand(n, prompt.length(), transBlock.dimOut()));
      if (trace != null) trace.encoderHiddenStates = hold(context);

      Generator generator = NoiseSource.cpuGenerator(request.seed());  // freed with this scope
      NoiseSource draws = NoiseSource.generator(generator);
      long[] latentShape = {n, unet.config().inChannels(), request.height() / f, request.width() / f};
      Tensor latents = draws.randn(latentShape, ScalarType.Float).mul(new Scalar(scheduler.initNoiseSigma()));
      if (trace != null) trace.initialLatents = hold(latents);

      scheduler.setTimesteps(request.steps());
      double[] timesteps = scheduler.timestepValues();
      if (trace != null) trace.timesteps = timesteps.clone();
      NoiseSource stepNoise = trace == null ? draws : (shape, dtype) -> {
        Tensor z = draws.randn(shape, dtype);
        trace.schedulerNoise.add(hold(z));
        return z;
      };
      int step = 0;
      for (double t : timesteps) {
        Tensor input = temp(temps, scheduler.scaleModelInput(Torch.cat(0, latents, latents), t));
        Tensor timestep = scheduler.integerTimesteps() ? Torch.longs(new long[] {(long) t})
            : Torch.floats(new float[] {(float) t});
        Tensor noise = temp(temps, unet.forward(input, timestep, context));
        Tensor u = noise.narrow(0, 0, n), c = noise.narrow(0, n, n);
        Tensor guided = u.add(c.sub(u).mul(new Scalar(request.guidanceScale())));
        Scheduler.StepOutput out = scheduler.step(guided, t, latents, stepNoise);
        temps.add(out.prevSample());
        if (out.predOriginalSample() != null) temps.add(out.predOriginalSample());
        latents = out.prevSample();
        if (trace != null) {
          trace.unetInputs.add(hold(input));
          trace.unetOutputs.add(hold(noise));
          trace.latentsAfterStep.add(hold(latents));
        }
        step++;
        if (progress != null && !progress.onStep(step, timesteps.length)) {
          throw new ai.viscpm.CancelledException("generation cancelled by the progress listener");
        }
      }
      Tensor sample = temp(temps, vae.decodeLatents(latents));
      Tensor image = temp(temps, VaeDecoder.toImageFloat(sample));
      return VaeDecoder.toUint8(image);
    } finally {
      for (int i = temps.size() - 1; i >= 0; i--) temps.get(i).close();
    }
  }

  /** CPM-Bee's full forward on one padded prompt: the hidden states after the output norm, in this scope. */
  private Tensor encode(CpmBeeInputs inputs, List<Pointer> temps) throws VisCpmException {
    try (CpmBeeOutput out = bee.forward(inputs, null, CpmBee.Logits.NONE)) {
      return new Tensor(out.hiddenStates());
    }
  }

  private static Tensor temp(List<Pointer> temps, Tensor t) {
    temps.add(t);
    return t;
  }

  private static Tensor hold(Tensor t) {
    return Torch.keep(new Tensor(t));
  }

  private void check(Request r) throws InvalidInputException {
    final long multiple = sizeMultiple();
    if (r.width() <= 0 || r.height() <= 0 || r.width() % multiple != 0 || r.height() % multiple != 0) {
      throw new InvalidInputException("image sides must be positive multiples of " + multiple + ", got " + r.width()
          + "x" + r.height());
    }
    if (r.images() < 1) throw new InvalidInputException("images must be at least 1, got " + r.images());
    if (!(r.guidanceScale() >= 0) || r.guidanceScale() > 100) {
      throw new InvalidInputException("guidance scale must be in [0, 100], got " + r.guidanceScale());
    }
    if (r.prompt() == null) throw new InvalidInputException("a prompt is required");
  }

  @Override
  public synchronized void close() {
    if (closed) return;
    closed = true;
    unet.close();
    transBlock.close();
    bee.close();
    vae.close();
    tokenizer.close();
  }
}
