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

  PaintResult(ByteBuffer pixels, int count, int width, int height, long seed, double seconds) {
    this.pixels = pixels;
    this.count = count;
    this.width = width;
    this.height = height;
    this.seed = seed;
    this.seconds = seconds;
  }

  public int count() { return count; }
  public int width() { return width; }
  public int height() { return height; }
  /** The seed used (give it back in a request to reproduce these images). */
  public long seed() { return seed; }
  public double seconds() { return seconds; }

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
