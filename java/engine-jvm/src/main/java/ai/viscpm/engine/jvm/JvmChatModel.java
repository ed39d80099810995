package ai.viscpm.engine.jvm;

import ai.viscpm.Checkpoint;
import ai.viscpm.VisCpmException;
import ai.viscpm.text.Tokenizer;
import java.nio.file.Path;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * VisCPM-Chat on the JVM engine (chat.md): the vision encoder and mapping ({@link
 * VisionEncoder}), CPM-Bee ({@link CpmBee}) and the shared tokenizer ({@link Tokenizer},
 * the C API). Sessions ({@link ChatTurn.Session}) hold one image's vision states and the
 * dialogue history. Immutable once loaded; owns its models.
 */
public final class JvmChatModel implements AutoCloseable {
  /** The image normalisation of the reference transform (beit3.md §1). */
  static final double[] MEAN = {0.5, 0.5, 0.5}, STD = {0.5, 0.5, 0.5};

  private final CpmBee llm;
  private final VisionEncoder vision;
  private final Tokenizer tokenizer;
  private volatile boolean closed;

  private JvmChatModel(CpmBee llm, VisionEncoder vision, Tokenizer tokenizer) {
    this.llm = llm;
    this.vision = vision;
    this.tokenizer = tokenizer;
  }

  /**
   * Loads the models from a chat checkpoint ({@code llm.*}, {@code vpm.*}, {@code query},
   * {@code mapping.*}) with cpm-bee.json, beit3.json and the vocabulary, in {@code dtype}.
   */
  public static JvmChatModel load(Path cpmBeeConfig, Path beit3Config, Path checkpoint, Path vocabulary,
      ScalarType dtype) throws VisCpmException {
    CpmBeeConfig beeConfig = CpmBeeConfig.load(cpmBeeConfig);
    Beit3Config visionConfig = Beit3Config.load(beit3Config);
    CpmBee llm = null;
    VisionEncoder vision = null;
    Tokenizer tokenizer = null;
    boolean done = false;
    try (Checkpoint ckpt = Checkpoint.open(checkpoint)) {
      llm = CpmBee.load(beeConfig, ckpt, "llm.", dtype);
      vision = VisionEncoder.load(visionConfig, ckpt, dtype);
      tokenizer = Tokenizer.load(vocabulary);
      if (vision.outputDim() != beeConfig.dimModel()) {
        throw new ai.viscpm.FormatException("the vision mapping gives " + vision.outputDim() + " values, CPM-Bee needs "
            + beeConfig.dimModel());
      }
      done = true;
      return new JvmChatModel(llm, vision, tokenizer);
    } finally {
      if (!done) {
        if (llm != null) llm.close();
        if (vision != null) vision.close();
        if (tokenizer != null) tokenizer.close();
      }
    }
  }

  public CpmBee languageModel() {
    check();
    return llm;
  }

  public VisionEncoder visionEncoder() {
    check();
    return vision;
  }

  public Tokenizer tokenizer() {
    check();
    return tokenizer;
  }

  public int queryNum() {
    return (int) vision.config().queryNum();
  }

  /**
   * Vision states of an image, {@code [1, Q, D]} in the model dtype: preprocessing, BEiT-3
   * and the mapping MLP. The caller owns the result.
   */
  public Tensor encodeImage(ImagePreprocess.Rgb image) throws VisCpmException {
    check();
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      Tensor pixels = ImagePreprocess.pixelValues(image, (int) vision.config().imgSize(), MEAN, STD);
      Tensor queries = vision.encode(pixels);
      Tensor mapped = vision.map(queries);
      queries.close();
      Tensor out = Torch.keep(mapped.contiguous());
      mapped.close();
      return out;
    }
  }

  /** A conversation about {@code image} (encoded now), starting from {@code context}. */
  public ChatTurn.Session newSession(Path image, String context) throws VisCpmException {
    return newSession(ImagePreprocess.read(image), context);
  }

  public ChatTurn.Session newSession(ImagePreprocess.Rgb image, String context) throws VisCpmException {
    Tensor states = encodeImage(image);
    return new ChatTurn.Session(this, states, context, true);
  }

  void check() {
    if (closed) throw new IllegalStateException("the chat model is closed");
  }

  @Override
  public synchronized void close() {
    if (closed) return;
    closed = true;
    llm.close();
    vision.close();
    tokenizer.close();
  }
}
