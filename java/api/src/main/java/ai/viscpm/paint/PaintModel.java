package ai.viscpm.paint;

import ai.viscpm.InvalidInputException;
import ai.viscpm.ModelOptions;
import ai.viscpm.VisCpmException;
import ai.viscpm.internal.Engines;
import ai.viscpm.internal.NativeEnums;
import ai.viscpm.internal.NativeObject;
import ai.viscpm.spi.PaintBackend;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

/**
 * A loaded VisCPM-Paint model: CPM-Bee text encoder, trans block, Stable Diffusion 2.1-base
 * UNet and VAE decoder (see models/README.md for the directory layout), run by the engine
 * {@link ModelOptions#engine()} names.
 *
 * <p>Thread-safety: immutable once loaded; {@link #generate} may run on several threads at once.
 */
public final class PaintModel extends NativeObject {
  private final PaintBackend backend;

  private PaintModel(PaintBackend backend) {
    this.backend = backend;
  }

  public static PaintModel load(Path modelDir) throws VisCpmException {
    return load(modelDir, null, null, ModelOptions.defaults());
  }

  /**
   * Loads a model directory; {@code checkpoint} and {@code vocabulary} may be given
   * explicitly (null: looked for in the directory).
   *
   * @throws ai.viscpm.ResourceNotFoundException naming the missing file
   * @throws ai.viscpm.FormatException for corrupt or mismatched files
   * @throws ai.viscpm.UnsupportedFeatureException for an engine that is not on the class path or
   *     options that engine does not support
   */
  public static PaintModel load(Path modelDir, Path checkpoint, Path vocabulary, ModelOptions options)
      throws VisCpmException {
    return new PaintModel(Engines.provider(options.engine()).loadPaint(modelDir, checkpoint, vocabulary, options));
  }

  /** The scheduler names a request may use. */
  public static List<String> schedulers() {
    return NativeEnums.schedulerNames();
  }

  /** Image sides must be multiples of this. */
  public int sizeMultiple() {
    try (Use use = use()) {
      return backend.sizeMultiple();
    }
  }

  /** The side used when a request gives 0 (512 for SD 2.1-base). */
  public int defaultSize() {
    try (Use use = use()) {
      return backend.defaultSize();
    }
  }

  public PaintResult generate(PaintRequest request) throws VisCpmException {
    return generate(request, null);
  }

  /**
   * Paints. The listener (may be null) hears of every step and may cancel.
   *
   * @throws InvalidInputException for bad sizes, zero steps, non-finite guidance, unknown scheduler
   * @throws ai.viscpm.CancelledException if the listener cancelled
   */
  public PaintResult generate(PaintRequest request, ProgressListener listener) throws VisCpmException {
    if (request.numImages() < 1) throw new InvalidInputException("numImages must be >= 1, got " + request.numImages());
    try (Use use = use()) {
      int w = request.width() == 0 ? backend.defaultSize() : request.width();
      int h = request.height() == 0 ? backend.defaultSize() : request.height();
      if (w < 0 || h < 0) throw new InvalidInputException("image size must be positive, got " + w + "x" + h);
      long bytes = (long) request.numImages() * w * h * 3;
      if (bytes > Integer.MAX_VALUE) throw new InvalidInputException("request would need " + bytes + " bytes of pixels");
      NativeEnums.scheduler(request.scheduler());  // an unknown name is an InvalidInputException on every engine
      ByteBuffer pixels = ByteBuffer.allocateDirect((int) Math.max(1, bytes));
      long start = System.nanoTime();
      long[] stepEnds = new long[Math.max(0, request.steps())];  // nanoTime at the end of each step
      int[] stepsDone = {0};
      long seed = backend.generate(request, w, h, pixels, (step, total) -> {
        if (stepsDone[0] < stepEnds.length) stepEnds[stepsDone[0]++] = System.nanoTime();
        return listener == null || listener.onStep(step, total);
      });
      long end = System.nanoTime();
      return new PaintResult(pixels, request.numImages(), w, h, seed, (end - start) / 1e9,
          PaintResult.Timings.of(start, java.util.Arrays.copyOf(stepEnds, stepsDone[0]), end));
    }
  }

  /**
   * {@link #generate(PaintRequest, ProgressListener)} on {@code executor} (never paint on a
   * request, UI or game thread). Cancelling the returned future stops the generation after the
   * current denoising step and completes the future with a
   * {@link java.util.concurrent.CancellationException}; cancel this future itself, not one
   * derived from it. Several generations may run at once on one model.
   *
   * @param listener progress after each step (may be null); returning false cancels
   */
  public java.util.concurrent.CompletableFuture<PaintResult> generateAsync(PaintRequest request,
      ProgressListener listener, java.util.concurrent.Executor executor) {
    // The native loop stops when the progress callback says so: a cancelled future says so.
    return ai.viscpm.internal.CancellableTask.start(executor, () -> {}, task ->
        generate(request, (step, total) -> !task.isCancelled() && (listener == null || listener.onStep(step, total))));
  }

  @Override
  protected void release() {
    backend.close();
  }
}
