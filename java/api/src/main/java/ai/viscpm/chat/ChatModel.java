package ai.viscpm.chat;

import ai.viscpm.InvalidInputException;
import ai.viscpm.ModelOptions;
import ai.viscpm.PixelFormat;
import ai.viscpm.VisCpmException;
import ai.viscpm.internal.Engines;
import ai.viscpm.internal.NativeObject;
import ai.viscpm.spi.ChatBackend;
import ai.viscpm.spi.EngineProvider;
import java.awt.image.BufferedImage;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * A loaded VisCPM-Chat model: BEiT-3 vision encoder, mapping and CPM-Bee, from a model
 * directory (see models/README.md), run by the engine {@link ModelOptions#engine()} names.
 *
 * <p>Thread-safety: a model is immutable once loaded; any number of {@link ChatSession}s on
 * different threads may share it. Closing the model waits for calls in flight; sessions
 * keep the model alive until they are closed too.
 */
public final class ChatModel extends NativeObject {
  private final ChatBackend backend;

  private ChatModel(ChatBackend backend) {
    this.backend = backend;
  }

  /**
   * Loads a model directory.
   *
   * @throws ai.viscpm.ResourceNotFoundException naming the missing file
   * @throws ai.viscpm.FormatException for a corrupt or mismatched checkpoint or config
   * @throws ai.viscpm.UnsupportedFeatureException for an engine that is not on the class path or
   *     options that engine does not support
   */
  public static ChatModel load(Path modelDir, ModelOptions options) throws VisCpmException {
    return new ChatModel(Engines.provider(options.engine())
        .loadChat(new EngineProvider.ChatFiles(modelDir, null, null, null, null), options));
  }

  /**
   * Loads from explicit files; null entries are looked for in {@code modelDir} (which may be
   * null when every file is given). {@code beit3Config} may stay null: the released BEiT-3
   * large configuration.
   */
  public static ChatModel load(Path modelDir, Path checkpoint, Path cpmBeeConfig, Path beit3Config, Path vocabulary,
      ModelOptions options) throws VisCpmException {
    EngineProvider.ChatFiles files = new EngineProvider.ChatFiles(modelDir, checkpoint, cpmBeeConfig, beit3Config,
        vocabulary);
    return new ChatModel(Engines.provider(options.engine()).loadChat(files, options));
  }

  public static ChatModel load(Path modelDir) throws VisCpmException {
    return load(modelDir, ModelOptions.defaults());
  }

  /** How many images the vision encoder has encoded (later turns of a session reuse them). */
  public long visionEncoderCalls() {
    try (Use use = use()) {
      return backend.visionEncoderCalls();
    }
  }

  /** A conversation about an image file (PNG, JPEG, BMP, WebP). */
  public ChatSession newSession(Path image) throws VisCpmException {
    try (Use use = use()) {
      return new ChatSession(this, backend.openFile(image));
    }
  }

  /** A conversation about an encoded image held in memory. */
  public ChatSession newSession(byte[] encodedImage) throws VisCpmException {
    try (Use use = use()) {
      return new ChatSession(this, backend.openBytes(encodedImage));
    }
  }

  /**
   * A conversation about pixels in a direct buffer, read in place (no copy before the
   * resize): rows {@code rowStride} bytes apart, from the buffer's position.
   */
  public ChatSession newSession(ByteBuffer pixels, int width, int height, int rowStride, PixelFormat format)
      throws VisCpmException {
    if (!pixels.isDirect()) throw new InvalidInputException("pixels must be a direct ByteBuffer (zero-copy)");
    try (Use use = use()) {
      return new ChatSession(this, backend.openPixels(pixels, width, height, rowStride, format));
    }
  }

  /** A conversation about a {@link BufferedImage} (its pixels are copied once into a direct buffer). */
  public ChatSession newSession(BufferedImage image) throws VisCpmException {
    int w = image.getWidth(), h = image.getHeight();
    ByteBuffer rgb = ByteBuffer.allocateDirect(Math.max(1, w * h * 3));
    int[] row = new int[w];
    for (int y = 0; y < h; y++) {
      image.getRGB(0, y, w, 1, row, 0, w);
      for (int x = 0; x < w; x++) {
        int argb = row[x];
        rgb.put((byte) (argb >> 16)).put((byte) (argb >> 8)).put((byte) argb);
      }
    }
    rgb.flip();
    return newSession(rgb, w, h, w * 3, PixelFormat.RGB);
  }

  @Override
  protected void release() {
    backend.close();
  }
}
