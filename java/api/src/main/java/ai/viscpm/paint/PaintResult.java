package ai.viscpm.paint;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/**
 * Painted images: RGB bytes, row-major, image after image, in one direct buffer the native
 * side wrote in place.
 */
public final class PaintResult {
  private final ByteBuffer pixels;
  private final int count;
  private final int width;
  private final int height;
  private final long seed;
  private final double seconds;
  private final Timings timings;

  /**
   * Where the time of one generate call went, measured on the calling thread at the progress
   * callbacks: the prompt encoding is only visible together with the first denoising step.
   */
  public static final class Timings {
    private final double untilFirstStepEnd;
    private final double[] laterSteps;
    private final double afterLastStep;

    private Timings(double untilFirstStepEnd, double[] laterSteps, double afterLastStep) {
      this.untilFirstStepEnd = untilFirstStepEnd;
      this.laterSteps = laterSteps;
      this.afterLastStep = afterLastStep;
    }

    static Timings of(long startNanos, long[] stepEndNanos, long endNanos) {
      if (stepEndNanos.length == 0) return new Timings(0, new double[0], (endNanos - startNanos) / 1e9);
      double[] later = new double[stepEndNanos.length - 1];
      for (int i = 1; i < stepEndNanos.length; i++) later[i - 1] = (stepEndNanos[i] - stepEndNanos[i - 1]) / 1e9;
      return new Timings((stepEndNanos[0] - startNanos) / 1e9, later,
          (endNanos - stepEndNanos[stepEndNanos.length - 1]) / 1e9);
    }

    /** Seconds from the call to the end of the first step: prompt encoding, setup and step 1. */
    public double secondsUntilFirstStepEnd() { return untilFirstStepEnd; }
    /** Seconds of each denoising step after the first (step 2, 3, ...). */
    public double[] laterStepSeconds() { return laterSteps.clone(); }
    /** Median seconds of the steps after the first (0 with fewer than two steps). */
    public double medianStepSeconds() {
      if (laterSteps.length == 0) return 0;
      double[] sorted = laterSteps.clone();
      java.util.Arrays.sort(sorted);
      return sorted[sorted.length / 2];
    }
    /** Seconds after the last step: the VAE decode and the pixels' conversion. */
    public double secondsAfterLastStep() { return afterLastStep; }
  }

  PaintResult(ByteBuffer pixels, int count, int width, int height, long seed, double seconds, Timings timings) {
    this.pixels = pixels;
    this.count = count;
    this.width = width;
    this.height = height;
    this.seed = seed;
    this.seconds = seconds;
    this.timings = timings;
  }

  public int count() { return count; }
  public int width() { return width; }
  public int height() { return height; }
  /** The seed used (give it back in a request to reproduce these images). */
  public long seed() { return seed; }
  /** Wall seconds of the generate call. */
  public double seconds() { return seconds; }
  /** The call's time by phase (prompt and first step, each later step, VAE decode). */
  public Timings timings() { return timings; }

  /** Image {@code i} as a read-only view of the RGB bytes (no copy). */
  public ByteBuffer rgb(int i) {
    int size = width * height * 3;
    return pixels.duplicate().position(i * size).limit((i + 1) * size).slice().asReadOnlyBuffer();
  }

  public BufferedImage toBufferedImage(int i) {
    ByteBuffer rgb = rgb(i);
    BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    int[] row = new int[width];
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int at = (y * width + x) * 3;
        row[x] = (rgb.get(at) & 0xff) << 16 | (rgb.get(at + 1) & 0xff) << 8 | (rgb.get(at + 2) & 0xff);
      }
      img.setRGB(0, y, width, 1, row, 0, width);
    }
    return img;
  }

  public void writePng(int i, Path file) throws IOException {
    if (!ImageIO.write(toBufferedImage(i), "png", file.toFile())) throw new IOException("no PNG writer");
  }

  /** All images side by side in one picture (a grid of up to 4 columns). */
  public BufferedImage grid() {
    int cols = Math.min(4, count), rows = (count + cols - 1) / cols;
    BufferedImage g = new BufferedImage(cols * width, rows * height, BufferedImage.TYPE_INT_RGB);
    for (int i = 0; i < count; i++) {
      g.getGraphics().drawImage(toBufferedImage(i), (i % cols) * width, (i / cols) * height, null);
    }
    return g;
  }
}
