package ai.viscpm.chat;

import ai.viscpm.InvalidInputException;
import ai.viscpm.ModelOptions;
import ai.viscpm.PixelFormat;
import ai.viscpm.VisCpmException;
import ai.viscpm.internal.NativeEnums;
import ai.viscpm.internal.NativeLibrary;
import ai.viscpm.internal.NativeObject;
import ai.viscpm.internal.NativeParams;
import ai.viscpm.internal.jni.global.viscpm;
import ai.viscpm.internal.jni.viscpm_chat_model;
import ai.viscpm.internal.jni.viscpm_chat_session;
import java.awt.image.BufferedImage;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.bytedeco.javacpp.BytePointer;

/**
 * A loaded VisCPM-Chat model: BEiT-3 vision encoder, mapping and CPM-Bee, from a model
 * directory (see models/README.md).
 *
 * <p>Thread-safety: a model is immutable once loaded; any number of {@link ChatSession}s on
 * different threads may share it. Closing the model waits for calls in flight; sessions
 * keep the native model alive until they are closed too.
 */
public final class ChatModel extends NativeObject {
  private final viscpm_chat_model handle;

  private ChatModel(viscpm_chat_model handle) {
    this.handle = handle;
  }

  /**
   * Loads a model directory.
   *
   * @throws ai.viscpm.ResourceNotFoundException naming the missing file
   * @throws ai.viscpm.FormatException for a corrupt or mismatched checkpoint or config
   */
  public static ChatModel load(Path modelDir, ModelOptions options) throws VisCpmException {
    NativeLibrary.require();
    NativeLibrary.adoptProcessThreadCount();
    viscpm_chat_model handle = new viscpm_chat_model();
    try (NativeParams.Model params = NativeParams.of(options);
        BytePointer dir = NativeLibrary.utf8(modelDir.toString())) {
      NativeLibrary.check(viscpm.viscpm_chat_model_load(dir, params.params, handle));
    }
    return new ChatModel(handle);
  }

  /**
   * Loads from explicit files; null entries are looked for in {@code modelDir} (which may be
   * null when every file is given). {@code beit3Config} may stay null: the released BEiT-3
   * large configuration.
   */
  public static ChatModel load(Path modelDir, Path checkpoint, Path cpmBeeConfig, Path beit3Config, Path vocabulary,
      ModelOptions options) throws VisCpmException {
    NativeLibrary.require();
    NativeLibrary.adoptProcessThreadCount();
    viscpm_chat_model handle = new viscpm_chat_model();
    try (NativeParams.Model params = NativeParams.of(options);
        BytePointer dir = utf8OrNull(modelDir);
        BytePointer ckpt = utf8OrNull(checkpoint);
        BytePointer cpm = utf8OrNull(cpmBeeConfig);
        BytePointer beit = utf8OrNull(beit3Config);
        BytePointer vocab = utf8OrNull(vocabulary)) {
      NativeLibrary.check(viscpm.viscpm_chat_model_load_files(dir, ckpt, cpm, beit, vocab, params.params, handle));
    }
    return new ChatModel(handle);
  }

  private static BytePointer utf8OrNull(Path p) {
    return NativeLibrary.utf8(p == null ? "" : p.toString());
  }

  public static ChatModel load(Path modelDir) throws VisCpmException {
    return load(modelDir, ModelOptions.defaults());
  }


  /** How many images the vision encoder has encoded (later turns of a session reuse them). */
  public long visionEncoderCalls() {
    try (Use use = use()) {
      return viscpm.viscpm_chat_model_vision_encoder_calls(handle);
    }
  }

  /** A conversation about an image file (PNG, JPEG, BMP, WebP). */
  public ChatSession newSession(Path image) throws VisCpmException {
    try (Use use = use(); BytePointer p = NativeLibrary.utf8(image.toString())) {
      viscpm_chat_session s = new viscpm_chat_session();
      NativeLibrary.check(viscpm.viscpm_chat_session_open_file(handle, p, s));
      return new ChatSession(this, s);
    }
  }

  /** A conversation about an encoded image held in memory. */
  public ChatSession newSession(byte[] encodedImage) throws VisCpmException {
    try (Use use = use(); BytePointer p = new BytePointer(Math.max(1, encodedImage.length))) {
      p.put(encodedImage);
      viscpm_chat_session s = new viscpm_chat_session();
      NativeLibrary.check(viscpm.viscpm_chat_session_open_bytes(handle, p, encodedImage.length, s));
      return new ChatSession(this, s);
    }
  }

  /**
   * A conversation about pixels in a direct buffer, read in place (no copy before the
   * resize): rows {@code rowStride} bytes apart, from the buffer's position.
   */
  public ChatSession newSession(ByteBuffer pixels, int width, int height, int rowStride, PixelFormat format)
      throws VisCpmException {
    if (!pixels.isDirect()) throw new InvalidInputException("pixels must be a direct ByteBuffer (zero-copy)");
    try (Use use = use(); BytePointer p = new BytePointer(pixels)) {
      viscpm_chat_session s = new viscpm_chat_session();
      NativeLibrary.check(viscpm.viscpm_chat_session_open_pixels(handle, p, pixels.remaining(), width, height,
          rowStride, NativeEnums.pixelFormat(format), s));
      return new ChatSession(this, s);
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

  viscpm_chat_model handle() {
    return handle;
  }

  @Override
  protected void release() {
    viscpm.viscpm_chat_model_free(handle);
    handle.setNull();
  }
}
