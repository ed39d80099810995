package ai.viscpm.spi;

import ai.viscpm.PixelFormat;
import ai.viscpm.VisCpmException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * A loaded chat model of one engine. Immutable once loaded; sessions may outlive the
 * front object's {@code close()} until they are closed themselves (the backend keeps what
 * they need).
 */
public interface ChatBackend extends AutoCloseable {
  /** How many images the vision encoder has encoded. */
  long visionEncoderCalls();

  SessionBackend openFile(Path image) throws VisCpmException;

  SessionBackend openBytes(byte[] encodedImage) throws VisCpmException;

  /** Pixels in a direct buffer from its position, rows {@code rowStride} bytes apart. */
  SessionBackend openPixels(ByteBuffer pixels, int width, int height, int rowStride, PixelFormat format)
      throws VisCpmException;

  @Override
  void close();
}
