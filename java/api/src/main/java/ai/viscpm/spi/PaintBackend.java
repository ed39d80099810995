package ai.viscpm.spi;

import ai.viscpm.VisCpmException;
import ai.viscpm.paint.PaintRequest;
import ai.viscpm.paint.ProgressListener;
import java.nio.ByteBuffer;

/** A loaded paint model of one engine. Immutable; {@link #generate} may run on several threads at once. */
public interface PaintBackend extends AutoCloseable {
  int sizeMultiple();

  /** The side used when a request gives 0. */
  int defaultSize();

  /**
   * Paints {@code request.numImages()} images of {@code width x height} (already resolved from the
   * defaults) as RGB bytes into {@code pixels} (direct, {@code numImages * width * height * 3}
   * bytes from position 0). {@code progress} (never null) hears every step; false cancels
   * ({@link ai.viscpm.CancelledException}). Returns the seed used.
   */
  long generate(PaintRequest request, int width, int height, ByteBuffer pixels, ProgressListener progress)
      throws VisCpmException;

  @Override
  void close();
}
