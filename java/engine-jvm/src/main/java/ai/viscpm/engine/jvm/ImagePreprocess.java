package ai.viscpm.engine.jvm;

import ai.viscpm.FormatException;
import ai.viscpm.ResourceNotFoundException;
import ai.viscpm.VisCpmException;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.bytedeco.pytorch.Tensor;

/**
 * VisCPM-Chat's image transform (beit3.md §1): RGB 8-bit → PIL's bicubic resize to
 * {@code size × size} (§1.1, the fixed-point algorithm, horizontal pass first, each pass to
 * uint8) → {@code (k/255 − 0.5) / 0.5} in float32 → {@code [1, 3, size, size]}.
 * Decoding is the JDK's ImageIO; the samples are read from the raster (no colour
 * management), grey is replicated and alpha dropped, as PIL's {@code convert("RGB")}.
 */
public final class ImagePreprocess {
  private ImagePreprocess() {}

  /** An RGB image: {@code rgb[(y * width + x) * 3 + c]}, 0..255. */
  public record Rgb(int width, int height, int[] rgb) {}

  public static Rgb read(Path file) throws VisCpmException {
    if (!Files.isRegularFile(file)) throw new ResourceNotFoundException("image not found: " + file);
    BufferedImage image;
    try {
      image = ImageIO.read(file.toFile());
    } catch (IOException e) {
      throw new FormatException("cannot decode image " + file + ": " + e.getMessage());
    }
    if (image == null) throw new FormatException("not an image format the JVM can decode: " + file);
    return rgb(image);
  }

  public static Rgb rgb(BufferedImage image) {
    int w = image.getWidth(), h = image.getHeight();
    int[] out = new int[w * h * 3];
    Raster raster = image.getRaster();
    int bands = raster.getNumBands();
    boolean plain = !(image.getColorModel() instanceof IndexColorModel) && raster.getSampleModel().getSampleSize(0) == 8;
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int o = (y * w + x) * 3;
        if (plain && bands <= 2) {
          int g = raster.getSample(x, y, 0);
          out[o] = out[o + 1] = out[o + 2] = g;
        } else if (plain) {
          for (int c = 0; c < 3; c++) out[o + c] = raster.getSample(x, y, c);
        } else {
          int argb = image.getRGB(x, y);
          out[o] = (argb >> 16) & 255;
          out[o + 1] = (argb >> 8) & 255;
          out[o + 2] = argb & 255;
        }
      }
    }
    return new Rgb(w, h, out);
  }

  /** PIL {@code resize((w, h), BICUBIC)} on 8-bit RGB (beit3.md §1.1). */
  public static Rgb resize(Rgb in, int width, int height) {
    Rgb out = in;
    if (out.width() != width) out = pass(out, width, true);
    if (out.height() != height) out = pass(out, height, false);
    return out;
  }

  private static Rgb pass(Rgb in, int outSize, boolean horizontal) {
    int inSize = horizontal ? in.width() : in.height();
    double scale = (double) inSize / outSize;
    double filterscale = Math.max(scale, 1.0);
    double support = 2.0 * filterscale;
    int[] bounds = new int[outSize * 2];
    int[][] kfix = new int[outSize][];
    for (int o = 0; o < outSize; o++) {
      double center = (o + 0.5) * scale;
      int xmin = Math.max((int) (center - support + 0.5), 0);
      int xmax = Math.min((int) (center + support + 0.5), inSize);
      int n = xmax - xmin;
      double[] w = new double[n];
      double total = 0;
      for (int i = 0; i < n; i++) {
        w[i] = cubic((xmin + i - center + 0.5) / filterscale);
        total += w[i];
      }
      int[] k = new int[n];
      for (int i = 0; i < n; i++) {
        double v = total != 0 ? w[i] / total : w[i];
        k[i] = (int) (v * (1 << 22) + (v < 0 ? -0.5 : 0.5));
      }
      bounds[2 * o] = xmin;
      bounds[2 * o + 1] = n;
      kfix[o] = k;
    }
    int ow = horizontal ? outSize : in.width(), oh = horizontal ? in.height() : outSize;
    int[] src = in.rgb(), dst = new int[ow * oh * 3];
    for (int y = 0; y < oh; y++) {
      for (int x = 0; x < ow; x++) {
        int o = horizontal ? x : y;
        int xmin = bounds[2 * o], n = bounds[2 * o + 1];
        int[] k = kfix[o];
        for (int c = 0; c < 3; c++) {
          int acc = 1 << 21;
          for (int i = 0; i < n; i++) {
            int sx = horizontal ? xmin + i : x, sy = horizontal ? y : xmin + i;
            acc += src[(sy * in.width() + sx) * 3 + c] * k[i];
          }
          int v = acc >> 22;
          dst[(y * ow + x) * 3 + c] = Math.max(0, Math.min(255, v));
        }
      }
    }
    return new Rgb(ow, oh, dst);
  }

  private static double cubic(double x) {
    final double a = -0.5;
    x = Math.abs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
  }

  /**
   * Pixel values {@code [1, 3, size, size]} float32, normalised with {@code mean} and
   * {@code std} per channel as the reference does in float32. The caller's scope owns it.
   */
  public static Tensor pixelValues(Rgb image, int size, double[] mean, double[] std) {
    Rgb r = resize(image, size, size);
    float[] values = new float[3 * size * size];
    for (int c = 0; c < 3; c++) {
      float m = (float) mean[c], s = (float) std[c];
      for (int p = 0; p < size * size; p++) {
        float v = (float) r.rgb()[p * 3 + c] / 255.0f;
        values[c * size * size + p] = (v - m) / s;
      }
    }
    return Torch.floats(values, 1, 3, size, size);
  }
}
