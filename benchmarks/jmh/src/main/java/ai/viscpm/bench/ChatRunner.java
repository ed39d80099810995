package ai.viscpm.bench;

import ai.viscpm.ModelOptions;
import ai.viscpm.chat.ChatAnswer;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import ai.viscpm.engine.jvm.BeamSearch;
import ai.viscpm.engine.jvm.ChatTurn;
import ai.viscpm.engine.jvm.ImagePreprocess;
import ai.viscpm.engine.jvm.JvmChatModel;
import java.nio.file.Path;
import java.util.Arrays;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * One chat turn of beam search (3 beams, temperature 0.7, repetition penalty 1.1, length
 * penalty 3: the released settings, with the given max_length) on a fresh session, through
 * either engine, on the same model files and image. Opening the session (image decoding,
 * BEiT-3, the mapping: both engines do it at open) is the untimed per-invocation setup; the
 * timed part is the turn: prompt building, one prefill, the beam steps, the answer text.
 */
abstract class ChatRunner implements AutoCloseable {
  final String question;
  final int maxLength;

  ChatRunner(String question, int maxLength) {
    this.question = question;
    this.maxLength = maxLength;
  }

  abstract void openSession() throws Exception;

  /** One turn; returns the answer's token ids. */
  abstract int[] ask() throws Exception;

  abstract void closeSession();

  static ChatRunner create(String engine, Path dir, Path checkpoint, Path cpmBee, Path beit3, Path vocab, Path image,
      String question, int maxLength) throws Exception {
    return switch (engine) {
      case "native" -> new Native(dir, checkpoint, cpmBee, beit3, vocab, image, question, maxLength);
      case "jvm" -> new Jvm(checkpoint, cpmBee, beit3, vocab, image, question, maxLength);
      default -> throw new IllegalArgumentException(engine);
    };
  }

  /** Runs one turn outside the measurement and prints what it produced (the two engines must agree). */
  void describe(String label) throws Exception {
    openSession();
    long t0 = System.nanoTime();
    int[] ids = ask();
    long t1 = System.nanoTime();
    closeSession();
    System.out.printf("[chat] %s max_length %d: %d answer tokens %s (%.1f ms untimed check)%n", label, maxLength,
        ids.length, Arrays.toString(ids), (t1 - t0) / 1e6);
  }

  static final class Native extends ChatRunner {
    private final ChatModel model;
    private final Path image;
    private final GenerationConfig config;
    private ChatSession session;

    Native(Path dir, Path checkpoint, Path cpmBee, Path beit3, Path vocab, Path image, String question, int maxLength)
        throws Exception {
      super(question, maxLength);
      this.model = ChatModel.load(dir, checkpoint, cpmBee, beit3, vocab, ModelOptions.defaults());
      this.image = image;
      this.config = GenerationConfig.builder().beamSize(3).maxLength(maxLength).build();
    }

    @Override
    void openSession() throws Exception {
      session = model.newSession(image);
    }

    @Override
    int[] ask() throws Exception {
      ChatAnswer a = session.ask(question, config, null);
      return a.tokenIds();
    }

    @Override
    void closeSession() {
      if (session != null) session.close();
      session = null;
    }

    @Override
    public void close() {
      closeSession();
      model.close();
    }
  }

  static final class Jvm extends ChatRunner {
    private final JvmChatModel model;
    private final ImagePreprocess.Rgb rgb;
    private final BeamSearch.Settings settings;
    private final int maxInputLength = GenerationConfig.defaults().maxInputLength();
    private ChatTurn.Session session;

    Jvm(Path checkpoint, Path cpmBee, Path beit3, Path vocab, Path image, String question, int maxLength)
        throws Exception {
      super(question, maxLength);
      this.model = JvmChatModel.load(cpmBee, beit3, checkpoint, vocab, ScalarType.Float);
      this.rgb = ImagePreprocess.read(image);
      BeamSearch.Settings ref = BeamSearch.Settings.reference();
      this.settings = new BeamSearch.Settings(3, maxLength, ref.temperature(), ref.repetitionPenalty(),
          ref.lengthPenalty());
    }

    @Override
    void openSession() throws Exception {
      session = model.newSession(rgb, "");
    }

    @Override
    int[] ask() throws Exception {
      ChatTurn t = session.ask(question, settings, maxInputLength, null, () -> true);
      return t.result().answerIds();
    }

    @Override
    void closeSession() {
      if (session != null) session.close();
      session = null;
    }

    @Override
    public void close() {
      closeSession();
      model.close();
    }
  }
}
