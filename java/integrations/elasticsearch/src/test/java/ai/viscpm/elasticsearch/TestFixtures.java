package ai.viscpm.elasticsearch;

import ai.viscpm.ModelOptions;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import java.awt.Color;
import java.awt.GradientPaint;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * The golden fixtures (../shared/fixtures, -Dviscpm.fixtures or VISCPM_FIXTURES): the tiny
 * VisCPM-Chat model and an image; plus a few more images drawn here, so that documents differ.
 */
final class TestFixtures {
  private TestFixtures() {}

  static Path dir() {
    String configured = System.getProperty("viscpm.fixtures");
    if (configured == null || configured.isEmpty()) configured = System.getenv("VISCPM_FIXTURES");
    Path dir = Path.of(configured == null || configured.isEmpty() ? "../../../../shared/fixtures" : configured)
        .toAbsolutePath().normalize();
    if (!Files.isRegularFile(dir.resolve("manifest.json"))) {
      throw new IllegalStateException("golden fixtures not found at " + dir
          + " (expected manifest.json; place the shared folder beside the checkout or set -Dviscpm.fixtures)");
    }
    return dir;
  }

  /** The fixture model folder holds two checkpoints and no vocabulary: the files are named explicitly. */
  static Path modelDir() {
    return dir().resolve("models/chat");
  }

  static Path checkpoint() {
    return modelDir().resolve("viscpm_chat.pt");
  }

  static Path vocabulary() {
    return dir().resolve("vocab/bee.txt");
  }

  static ChatModel loadModel() throws Exception {
    return ChatModel.load(modelDir(), checkpoint(), null, null, vocabulary(), ModelOptions.defaults());
  }

  /** What the Java API answers, with the settings the processor uses for the same options. */
  static String answer(ChatModel model, byte[] image, String question, int maxTokens) throws Exception {
    try (ChatSession session = model.newSession(image)) {
      return session.ask(question, GenerationConfig.builder().maxTokens(maxTokens).build(), null).text();
    }
  }

  /** The fixture photo, then PNGs and a JPEG of different content and size. */
  static List<byte[]> images() {
    try {
      List<byte[]> images = new ArrayList<>();
      images.add(Files.readAllBytes(dir().resolve("cases/chat_beam_search/image.png")));
      images.add(encode(drawn(64, 48, Color.RED, Color.BLUE), "png"));
      images.add(encode(drawn(120, 90, Color.GREEN, Color.BLACK), "jpg"));
      images.add(encode(drawn(32, 32, Color.WHITE, Color.ORANGE), "png"));
      return images;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static BufferedImage drawn(int width, int height, Color from, Color to) {
    BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    g.setPaint(new GradientPaint(0, 0, from, width, height, to));
    g.fillRect(0, 0, width, height);
    g.setColor(Color.MAGENTA);
    g.fillOval(width / 4, height / 4, width / 2, height / 2);
    g.dispose();
    return image;
  }

  private static byte[] encode(BufferedImage image, String format) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    if (!ImageIO.write(image, format, out)) throw new IOException("no ImageIO writer for " + format);
    return out.toByteArray();
  }

  /** Bytes no decoder accepts (a PNG signature with garbage after it). */
  static byte[] corruptImage() {
    byte[] bytes = new byte[300];
    byte[] signature = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    System.arraycopy(signature, 0, bytes, 0, signature.length);
    for (int i = signature.length; i < bytes.length; i++) bytes[i] = (byte) (i * 31 + 7);
    return bytes;
  }
}
