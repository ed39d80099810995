package ai.viscpm.engine.jvm;

import ai.viscpm.DType;
import ai.viscpm.Device;
import ai.viscpm.Engine;
import ai.viscpm.FormatException;
import ai.viscpm.InvalidInputException;
import ai.viscpm.ModelOptions;
import ai.viscpm.PixelFormat;
import ai.viscpm.ResourceNotFoundException;
import ai.viscpm.UnsupportedFeatureException;
import ai.viscpm.VisCpmException;
import ai.viscpm.chat.ChatAnswer;
import ai.viscpm.chat.GenerationConfig;
import ai.viscpm.chat.TextListener;
import ai.viscpm.paint.PaintRequest;
import ai.viscpm.paint.ProgressListener;
import ai.viscpm.spi.ChatBackend;
import ai.viscpm.spi.EngineProvider;
import ai.viscpm.spi.PaintBackend;
import ai.viscpm.spi.SessionBackend;
import ai.viscpm.text.Tokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import javax.imageio.ImageIO;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * {@link ai.viscpm.Engine#JVM} behind the public API ({@code ModelOptions.engine(JVM)}): chat
 * through {@link JvmChatModel}/{@link ChatTurn.Session} and {@link BeamSearch}, paint through
 * {@link PaintPipeline}. Found by {@link java.util.ServiceLoader}
 * (META-INF/services/ai.viscpm.spi.EngineProvider).
 *
 * <p>What the JVM engine does not have is refused with an {@link UnsupportedFeatureException}:
 * CUDA, dtypes other than float32, VisCPM-Paint's low-memory mode, DDIM with eta &gt; 0. Chat
 * decodes with beam search, greedily or by sampling ({@link SampleSearch}, the native engine's
 * extensions); a chat directory without beit3.json is read with the released BEiT-3 large
 * configuration, as the native engine does. {@code verifyChecksums(false)} changes
 * nothing (the checkpoint reader of the C API is the same).
 */
public final class JvmEngineProvider implements EngineProvider {
  @Override
  public Engine engine() {
    return Engine.JVM;
  }

  // ------------------------------------------------------------------------------ options

  private static void checkDeviceAndDtype(ModelOptions options) throws UnsupportedFeatureException {
    if (options.device() == Device.CUDA) {
      throw new UnsupportedFeatureException("the JVM engine runs on the CPU only (device " + options.deviceName()
          + "); use engine NATIVE for CUDA");
    }
    if (options.dtype() != DType.AUTO && options.dtype() != DType.FLOAT32) {
      throw new UnsupportedFeatureException("the JVM engine runs float32 only (dtype " + options.dtype()
          + "); use engine NATIVE for " + options.dtype());
    }
  }

  private static Path need(Path p, String what, String model) throws VisCpmException {
    if (Files.isDirectory(p)) {
      throw new InvalidInputException(model + ": " + what + " " + p + " is a directory; pass the file itself");
    }
    if (!Files.isRegularFile(p)) throw new ResourceNotFoundException(model + ": " + what + " not found: " + p);
    return p;
  }

  private static Path firstExisting(Path dir, String what, String model, String... names) throws VisCpmException {
    if (dir == null) throw new InvalidInputException(model + ": no " + what + " path given");
    for (String n : names) {
      Path p = dir.resolve(n);
      if (Files.isRegularFile(p)) return p;
    }
    throw new ResourceNotFoundException(model + ": " + what + " not found in " + dir + " (looked for "
        + String.join(", ", names) + ")");
  }

  private static void checkDirectory(Path dir, String model) throws VisCpmException {
    if (dir != null && !Files.isDirectory(dir)) {
      throw new ResourceNotFoundException(model + " directory not found: " + dir);
    }
  }

  private static void refuseQuantized(Path dir, String model) throws UnsupportedFeatureException {
    if (dir == null) return;
    try (var files = Files.list(dir)) {
      if (files.anyMatch(p -> p.getFileName().toString().endsWith(".int8.safetensors"))) {
        throw new UnsupportedFeatureException(model + ": " + dir + " is quantized to int8; the JVM engine runs float32 "
            + "checkpoints only (use engine NATIVE)");
      }
    } catch (IOException ignored) {
      // unreadable: the loader names the file it needs
    }
  }

  // ------------------------------------------------------------------------------ chat

  @Override
  public ChatBackend loadChat(ChatFiles files, ModelOptions options) throws VisCpmException {
    if (options.lowMemory()) {
      throw new InvalidInputException("low_memory applies to VisCPM-Paint only: chat needs CPM-Bee for every token");
    }
    checkDeviceAndDtype(options);
    Torch.load();
    final String model = "VisCPM-Chat model";
    Path dir = files.modelDir();
    checkDirectory(dir, model);
    if (files.checkpoint() == null) refuseQuantized(dir, model);
    Path checkpoint = files.checkpoint() != null ? files.checkpoint()
        : firstExisting(dir, "checkpoint", model, "viscpm_chat.pt", "viscpm_chat.safetensors", "pytorch_model.bin",
            "pytorch_model.safetensors");
    Path cpmBee = files.cpmBeeConfig() != null ? files.cpmBeeConfig()
        : firstExisting(dir, "CPM-Bee config", model, "cpm-bee.json", "config/cpm-bee-10b.json");
    Path beit3 = files.beit3Config();
    if (beit3 == null && dir != null && Files.isRegularFile(dir.resolve("beit3.json"))) beit3 = dir.resolve("beit3.json");
    Path vocab = files.vocabulary() != null ? files.vocabulary()
        : firstExisting(dir, "vocabulary", model, "vocab/bee.txt", "bee.txt");
    need(checkpoint, "checkpoint", model);
    need(cpmBee, "CPM-Bee config", model);
    if (beit3 != null) need(beit3, "BEiT-3 config", model);
    need(vocab, "vocabulary", model);
    Path released = null;
    try {
      if (beit3 == null) {  // the released BEiT-3 large configuration: Beit3Config's defaults
        released = Files.createTempFile("viscpm-beit3-large", ".json");
        Files.writeString(released, "{}");
        beit3 = released;
      }
      return new JvmChat(JvmChatModel.load(cpmBee, beit3, checkpoint, vocab, ScalarType.Float));
    } catch (IOException e) {
      throw new ai.viscpm.NativeFailureException(ai.viscpm.ErrorCode.INTERNAL, "cannot write a temporary file: " + e);
    } finally {
      if (released != null) {
        try {
          Files.deleteIfExists(released);
        } catch (IOException ignored) {
          // a temporary file
        }
      }
    }
  }

  /** The model and its sessions: freed when the model and every session are closed. */
  private static final class JvmChat implements ChatBackend {
    private final JvmChatModel model;
    private final AtomicInteger holders = new AtomicInteger(1);
    private final AtomicLong encodes = new AtomicLong();

    JvmChat(JvmChatModel model) {
      this.model = model;
    }

    @Override
    public long visionEncoderCalls() {
      return encodes.get();
    }

    @Override
    public SessionBackend openFile(Path image) throws VisCpmException {
      ImagePreprocess.Rgb rgb;
      try {
        rgb = ImagePreprocess.read(image);
      } catch (FormatException e) {  // the native engine's class for an undecodable image
        throw new InvalidInputException(e.getMessage());
      }
      return open(rgb);
    }

    @Override
    public SessionBackend openBytes(byte[] encodedImage) throws VisCpmException {
      BufferedImage image;
      try {
        image = ImageIO.read(new ByteArrayInputStream(encodedImage));
      } catch (IOException e) {
        throw new InvalidInputException("cannot decode the image bytes: " + e.getMessage());
      }
      if (image == null) {
        throw new InvalidInputException("the image bytes (" + encodedImage.length + ") are not an image format the JVM "
            + "can decode");
      }
      return open(ImagePreprocess.rgb(image));
    }

    @Override
    public SessionBackend openPixels(ByteBuffer pixels, int width, int height, int rowStride, PixelFormat format)
        throws VisCpmException {
      int channels = format.channels();
      if (width <= 0 || height <= 0) {
        throw new InvalidInputException("image size must be positive, got " + width + "x" + height);
      }
      if (rowStride < (long) width * channels) {
        throw new InvalidInputException("row stride " + rowStride + " is shorter than a row of " + width + " "
            + format + " pixels");
      }
      long needed = (long) rowStride * (height - 1) + (long) width * channels;
      if (pixels.remaining() < needed) {
        throw new InvalidInputException("the pixel buffer holds " + pixels.remaining() + " bytes; " + needed
            + " needed for " + width + "x" + height + " " + format + " with stride " + rowStride);
      }
      boolean bgr = format == PixelFormat.BGR || format == PixelFormat.BGRA;
      int[] rgb = new int[width * height * 3];
      int base = pixels.position();
      for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
          int at = base + y * rowStride + x * channels, o = (y * width + x) * 3;
          int c0 = pixels.get(at) & 255, c1 = pixels.get(at + 1) & 255, c2 = pixels.get(at + 2) & 255;
          rgb[o] = bgr ? c2 : c0;
          rgb[o + 1] = c1;
          rgb[o + 2] = bgr ? c0 : c2;
        }
      }
      return open(new ImagePreprocess.Rgb(width, height, rgb));
    }

    private SessionBackend open(ImagePreprocess.Rgb image) throws VisCpmException {
      ChatTurn.Session session = model.newSession(image, "");
      encodes.incrementAndGet();
      holders.incrementAndGet();
      return new JvmSession(this, session);
    }

    void release() {
      if (holders.decrementAndGet() == 0) model.close();
    }

    @Override
    public void close() {
      release();
    }
  }

  private static final class JvmSession implements SessionBackend {
    private final JvmChat chat;
    private final ChatTurn.Session session;
    private final AtomicBoolean cancel = new AtomicBoolean();

    JvmSession(JvmChat chat, ChatTurn.Session session) {
      this.chat = chat;
      this.session = session;
    }

    @Override
    public ChatAnswer ask(String question, GenerationConfig config, TextListener listener) throws VisCpmException {
      validate(config);
      cancel.set(false);
      Tokenizer tokenizer = chat.model.tokenizer();
      String questionText = config.escapeText() ? Tokenizer.escape(question) : question;
      ChatPrompt[] promptOf = new ChatPrompt[1];
      List<int[]> emittedBox = new ArrayList<>(List.of(new int[0]));
      ChatTurn.Session.Stream stream = (prompt, ids) -> {
        promptOf[0] = prompt;
        int[] before = emittedBox.get(0);
        if (ids.length <= before.length) return;
        int[] fresh = java.util.Arrays.copyOfRange(ids, before.length, ids.length);
        emittedBox.set(0, ids.clone());
        String text = text(tokenizer, prompt, fresh, config.escapeText());
        if (!text.isEmpty() && !listener.onText(text)) cancel.set(true);
      };
      ChatTurn turn;
      if (config.decoding() == GenerationConfig.Decoding.BEAM_SEARCH) {
        BeamSearch.Settings settings = new BeamSearch.Settings(config.beamSize(), config.maxLength(),
            config.temperature(), config.repetitionPenalty(), config.lengthPenalty());
        turn = session.ask(questionText, settings, config.maxInputLength(), null, () -> !cancel.get(), stream);
      } else {
        SampleSearch.Settings settings = new SampleSearch.Settings(config.decoding() == GenerationConfig.Decoding.GREEDY,
            config.maxLength(), config.temperature(), config.repetitionPenalty(), config.topK(), config.topP(),
            config.seed());
        turn = session.ask(questionText, settings, config.maxInputLength(), () -> !cancel.get(), stream);
      }
      BeamSearch.Result r = turn.result();
      String answer = config.escapeText() ? text(tokenizer, promptOf[0], r.answerIds(), true) : turn.answer();
      return new ChatAnswer(answer, r.tokenIds(), r.endedWithEos(), r.score(), turn.promptIds().length,
          turn.encodedImage(), Double.NaN, 0);
    }

    /** Output ids as text: model form, or (escapeText) as a user reads it, '<' not doubled. */
    private static String text(Tokenizer tokenizer, ChatPrompt prompt, int[] ids, boolean display)
        throws VisCpmException {
      if (!display) {
        List<Integer> list = new ArrayList<>();
        for (int id : ids) list.add(id);
        return prompt.decode(tokenizer, list);
      }
      StringBuilder out = new StringBuilder();
      for (int id : ids) {
        String s = prompt.decodingTable().get((long) id);
        if (s != null) {
          out.append(s);
        } else if (id >= 0) {
          out.append(tokenizer.decode(new int[] {id}, List.of()).replace("<<", "<"));
        }
      }
      return out.toString();
    }

    /** The native engine's checks (decoding.cpp, GenerationConfig::validate), with its messages. */
    private static void validate(GenerationConfig c) throws VisCpmException {
      boolean beam = c.decoding() == GenerationConfig.Decoding.BEAM_SEARCH;
      String fail = null;
      if (beam && (c.beamSize() < 1 || c.beamSize() > 32)) {
        fail = "beam_size must be between 1 and 32, got " + c.beamSize();
      } else if (c.maxLength() < 0) {
        fail = "max_length must be between 0 and 2147483648, got " + c.maxLength();
      } else if (c.decoding() != GenerationConfig.Decoding.GREEDY
          && !(Float.isFinite(c.temperature()) && c.temperature() > 0)) {
        fail = "temperature must be a positive number, got " + c.temperature();
      } else if (!(Float.isFinite(c.repetitionPenalty()) && c.repetitionPenalty() >= 1)) {
        fail = "repetition_penalty must be >= 1 (1 disables it), got " + c.repetitionPenalty();
      } else if (!Float.isFinite(c.lengthPenalty())) {
        fail = "length_penalty must be finite";
      } else if (c.topK() < 0) {
        fail = "top_k must be >= 0 (0 keeps every token), got " + c.topK();
      } else if (!(c.topP() > 0 && c.topP() <= 1)) {
        fail = "top_p must be in (0, 1], got " + c.topP();
      } else if (c.maxInputLength() < 2) {
        fail = "max_input_length must be >= 2, got " + c.maxInputLength();
      }
      if (fail != null) throw new InvalidInputException("generation config: " + fail);
    }

    @Override
    public void cancel() {
      cancel.set(true);
    }

    @Override
    public void setContext(String context) {
      session.context(context);
    }

    @Override
    public String context() {
      return session.context();
    }

    @Override
    public void close() {
      session.close();
      chat.release();
    }
  }

  // ------------------------------------------------------------------------------ paint

  @Override
  public PaintBackend loadPaint(Path modelDir, Path checkpoint, Path vocabulary, ModelOptions options)
      throws VisCpmException {
    checkDeviceAndDtype(options);
    if (options.lowMemory()) {
      throw new UnsupportedFeatureException("the JVM engine has no low-memory mode (CPM-Bee stays loaded); use engine "
          + "NATIVE for lowMemory(true)");
    }
    Torch.load();
    final String model = "VisCPM-Paint model";
    if (modelDir == null || !Files.isDirectory(modelDir)) {
      throw new ResourceNotFoundException(model + " directory not found: " + modelDir);
    }
    if (checkpoint == null) refuseQuantized(modelDir, model);
    Path ckpt = checkpoint != null ? checkpoint
        : firstExisting(modelDir, "checkpoint", model, "viscpm_paint.pt", "viscpm_paint.safetensors", "pytorch_model.bin",
            "pytorch_model.safetensors");
    Path cpmBee = firstExisting(modelDir, "CPM-Bee config", model, "cpm-bee.json", "config/cpm-bee-10b.json");
    Path vocab = vocabulary != null ? vocabulary : firstExisting(modelDir, "vocabulary", model, "vocab/bee.txt", "bee.txt");
    Path hub = modelDir.resolve("stabilityai").resolve("stable-diffusion-2-1-base");
    Path sd = Files.isDirectory(hub) ? hub : modelDir;
    Path unetConfig = firstExisting(sd, "UNet config", model, "unet/config.json");
    Path vaeConfig = firstExisting(sd, "VAE config", model, "vae/config.json");
    firstExisting(sd, "VAE weights", model, "vae/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.bin");
    Path schedulerConfig = firstExisting(sd, "scheduler config", model, "scheduler/scheduler_config.json");
    need(ckpt, "checkpoint", model);
    need(vocab, "vocabulary", model);
    long sampleSize;
    try {
      JsonNode unet = new ObjectMapper().readTree(Files.readString(unetConfig));
      sampleSize = unet.path("sample_size").asLong(64);
    } catch (IOException e) {
      throw new FormatException(unetConfig + ": not a readable JSON file (" + e.getMessage() + ")");
    }
    long vaeFactor = VaeConfig.load(vaeConfig).downsamplingFactor();
    PaintPipeline pipeline = PaintPipeline.load(ckpt, cpmBee, vocab, unetConfig, vaeConfig.getParent(), schedulerConfig);
    return new JvmPaint(pipeline, vaeFactor, (int) (sampleSize * vaeFactor));
  }

  private static final class JvmPaint implements PaintBackend {
    private static final SecureRandom SEEDS = new SecureRandom();
    private final PaintPipeline pipeline;
    private final long vaeFactor;
    private final int defaultSize;

    JvmPaint(PaintPipeline pipeline, long vaeFactor, int defaultSize) {
      this.pipeline = pipeline;
      this.vaeFactor = vaeFactor;
      this.defaultSize = defaultSize;
    }

    @Override
    public int sizeMultiple() {
      return (int) pipeline.sizeMultiple();
    }

    @Override
    public int defaultSize() {
      return defaultSize;
    }

    private void checkSide(int side, String name) throws InvalidInputException {
      long multiple = pipeline.sizeMultiple();
      if (side <= 0 || side % vaeFactor != 0) {
        throw new InvalidInputException("image " + name + " must be a positive multiple of " + vaeFactor
            + " (the VAE factor), got " + side);
      }
      if (side % multiple != 0) {
        throw new InvalidInputException("image " + name + " must be a multiple of " + multiple + " for this model (VAE "
            + "factor " + vaeFactor + " x UNet factor " + (multiple / vaeFactor) + "), got " + side);
      }
    }

    @Override
    public long generate(PaintRequest request, int width, int height, ByteBuffer pixels, ProgressListener progress)
        throws VisCpmException {
      // The native engine's checks, in its order (paint_model.cpp), before any model work.
      checkSide(width, "width");
      checkSide(height, "height");
      if (request.steps() < 1) {
        throw new InvalidInputException("num_inference_steps must be at least 1, got " + request.steps());
      }
      if (!(request.guidanceScale() >= 0 && request.guidanceScale() <= 100)) {
        throw new InvalidInputException("guidance_scale must be between 0 and 100 (7.5 is VisCPM-Paint's default), got "
            + request.guidanceScale());
      }
      if (!Float.isFinite(request.eta()) || request.eta() < 0) {
        throw new InvalidInputException("eta must be a finite number >= 0, got " + request.eta());
      }
      if (request.numImages() < 1) {
        throw new InvalidInputException("num_images must be at least 1, got " + request.numImages());
      }
      String scheduler = Scheduler.canonicalName(request.scheduler());
      if (request.eta() > 0 && scheduler.equals("ddim")) {
        throw new UnsupportedFeatureException("the JVM engine runs DDIM with eta 0 only (got " + request.eta()
            + "); use engine NATIVE for eta > 0");
      }
      long seed = request.seed().isPresent() ? request.seed().getAsLong() : SEEDS.nextLong() & Long.MAX_VALUE;
      PaintPipeline.Request r = new PaintPipeline.Request(request.prompt(), request.negativePrompt(),
          request.guidanceScale(), request.steps(), width, height, seed, request.numImages(), scheduler);
      try (PointerScope scope = new PointerScope()) {
        Tensor images = pipeline.generate(r, null, progress::onStep);
        try {
          byte[] bytes = new byte[Math.toIntExact(images.numel())];
          Tensor c = images.contiguous();
          new org.bytedeco.javacpp.BytePointer(c.data_ptr()).capacity(bytes.length).get(bytes);
          pixels.duplicate().position(0).put(bytes);
        } finally {
          images.close();
        }
      }
      return seed;
    }

    @Override
    public void close() {
      pipeline.close();
    }
  }
}
