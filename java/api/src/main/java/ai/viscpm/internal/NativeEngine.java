package ai.viscpm.internal;

import ai.viscpm.Engine;
import ai.viscpm.ModelOptions;
import ai.viscpm.PixelFormat;
import ai.viscpm.VisCpmException;
import ai.viscpm.chat.ChatAnswer;
import ai.viscpm.chat.GenerationConfig;
import ai.viscpm.chat.TextListener;
import ai.viscpm.internal.jni.global.viscpm;
import ai.viscpm.internal.jni.viscpm_chat_model;
import ai.viscpm.internal.jni.viscpm_chat_session;
import ai.viscpm.internal.jni.viscpm_chat_turn;
import ai.viscpm.internal.jni.viscpm_generation_params;
import ai.viscpm.internal.jni.viscpm_paint_model;
import ai.viscpm.internal.jni.viscpm_paint_params;
import ai.viscpm.paint.PaintRequest;
import ai.viscpm.paint.ProgressListener;
import ai.viscpm.spi.ChatBackend;
import ai.viscpm.spi.EngineProvider;
import ai.viscpm.spi.PaintBackend;
import ai.viscpm.spi.SessionBackend;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerPointer;

/** The native engine: libviscpm through the C API (the JavaCPP bindings). */
public final class NativeEngine implements EngineProvider {
  static final NativeEngine INSTANCE = new NativeEngine();

  private NativeEngine() {}

  @Override
  public Engine engine() {
    return Engine.NATIVE;
  }

  @Override
  public ChatBackend loadChat(ChatFiles files, ModelOptions options) throws VisCpmException {
    NativeLibrary.require();
    NativeLibrary.adoptProcessThreadCount();
    viscpm_chat_model handle = new viscpm_chat_model();
    if (files.directoryOnly() && files.modelDir() != null) {
      try (NativeParams.Model params = NativeParams.of(options);
          BytePointer dir = NativeLibrary.utf8(files.modelDir().toString())) {
        NativeLibrary.check(viscpm.viscpm_chat_model_load(dir, params.params, handle));
      }
    } else {
      try (NativeParams.Model params = NativeParams.of(options);
          BytePointer dir = utf8OrNull(files.modelDir());
          BytePointer ckpt = utf8OrNull(files.checkpoint());
          BytePointer cpm = utf8OrNull(files.cpmBeeConfig());
          BytePointer beit = utf8OrNull(files.beit3Config());
          BytePointer vocab = utf8OrNull(files.vocabulary())) {
        NativeLibrary.check(viscpm.viscpm_chat_model_load_files(dir, ckpt, cpm, beit, vocab, params.params, handle));
      }
    }
    return new Chat(handle);
  }

  @Override
  public PaintBackend loadPaint(Path modelDir, Path checkpoint, Path vocabulary, ModelOptions options)
      throws VisCpmException {
    NativeLibrary.require();
    NativeLibrary.adoptProcessThreadCount();
    viscpm_paint_model handle = new viscpm_paint_model();
    try (NativeParams.Model params = NativeParams.of(options);
        BytePointer dir = NativeLibrary.utf8(modelDir.toString());
        BytePointer ckpt = NativeLibrary.utf8(checkpoint == null ? "" : checkpoint.toString());
        BytePointer vocab = NativeLibrary.utf8(vocabulary == null ? "" : vocabulary.toString())) {
      NativeLibrary.check(viscpm.viscpm_paint_model_load(dir, ckpt, vocab, params.params, handle));
    }
    return new Paint(handle);
  }

  private static BytePointer utf8OrNull(Path p) {
    return NativeLibrary.utf8(p == null ? "" : p.toString());
  }

  /** A native chat model; native sessions keep it alive until they are freed too. */
  private static final class Chat implements ChatBackend {
    private final viscpm_chat_model handle;

    Chat(viscpm_chat_model handle) {
      this.handle = handle;
    }

    @Override
    public long visionEncoderCalls() {
      return viscpm.viscpm_chat_model_vision_encoder_calls(handle);
    }

    @Override
    public SessionBackend openFile(Path image) throws VisCpmException {
      try (BytePointer p = NativeLibrary.utf8(image.toString())) {
        viscpm_chat_session s = new viscpm_chat_session();
        NativeLibrary.check(viscpm.viscpm_chat_session_open_file(handle, p, s));
        return new Session(s);
      }
    }

    @Override
    public SessionBackend openBytes(byte[] encodedImage) throws VisCpmException {
      try (BytePointer p = new BytePointer(Math.max(1, encodedImage.length))) {
        p.put(encodedImage);
        viscpm_chat_session s = new viscpm_chat_session();
        NativeLibrary.check(viscpm.viscpm_chat_session_open_bytes(handle, p, encodedImage.length, s));
        return new Session(s);
      }
    }

    @Override
    public SessionBackend openPixels(ByteBuffer pixels, int width, int height, int rowStride, PixelFormat format)
        throws VisCpmException {
      try (BytePointer p = new BytePointer(pixels)) {
        viscpm_chat_session s = new viscpm_chat_session();
        NativeLibrary.check(viscpm.viscpm_chat_session_open_pixels(handle, p, pixels.remaining(), width, height,
            rowStride, NativeEnums.pixelFormat(format), s));
        return new Session(s);
      }
    }

    @Override
    public void close() {
      viscpm.viscpm_chat_model_free(handle);
      handle.setNull();
    }
  }

  private static final class Session implements SessionBackend {
    private final viscpm_chat_session handle;

    Session(viscpm_chat_session handle) {
      this.handle = handle;
    }

    @Override
    public ChatAnswer ask(String question, GenerationConfig config, TextListener listener) throws VisCpmException {
      try (BytePointer q = NativeLibrary.utf8(question);
          viscpm_generation_params params = toNative(config);
          Callbacks.Registration reg = Callbacks.text(listener::onText);
          PointerPointer<viscpm_chat_turn> out = new PointerPointer<>(1)) {
        int status = viscpm.viscpm_chat_session_ask(handle, q, params, Callbacks.textThunk(), reg.userData, out);
        if (reg.failure != null) throw reg.failure;
        NativeLibrary.check(status);
        viscpm_chat_turn turn = out.get(viscpm_chat_turn.class, 0);
        try {
          int[] ids = new int[Math.toIntExact(turn.token_count())];
          if (ids.length > 0) turn.token_ids().capacity(ids.length).get(ids);
          return new ChatAnswer(NativeLibrary.string(turn.answer(), turn.answer_bytes()), ids,
              turn.ended_with_eos() != 0, turn.score(), Math.toIntExact(turn.prompt_tokens()),
              turn.encoded_image() != 0, Double.NaN, 0);
        } finally {
          viscpm.viscpm_chat_turn_free(turn);
        }
      }
    }

    @Override
    public void cancel() {
      viscpm.viscpm_chat_session_cancel(handle);
    }

    @Override
    public void setContext(String context) throws VisCpmException {
      try (BytePointer c = NativeLibrary.utf8(context)) {
        NativeLibrary.check(viscpm.viscpm_chat_session_set_context(handle, c));
      }
    }

    @Override
    public String context() throws VisCpmException {
      try (PointerPointer<BytePointer> out = new PointerPointer<>(1)) {
        NativeLibrary.check(viscpm.viscpm_chat_session_context(handle, out));
        BytePointer text = out.get(BytePointer.class, 0);
        try {
          return NativeLibrary.string(text);
        } finally {
          viscpm.viscpm_string_free(text);
        }
      }
    }

    private static viscpm_generation_params toNative(GenerationConfig c) throws VisCpmException {
      int decoding = NativeEnums.decoding(c.decoding());
      viscpm_generation_params p = viscpm.viscpm_generation_default_params();
      p.decoding(decoding);
      p.beam_size(c.beamSize());
      p.max_length(c.maxLength());
      p.max_input_length(c.maxInputLength());
      p.temperature(c.temperature());
      p.repetition_penalty(c.repetitionPenalty());
      p.length_penalty(c.lengthPenalty());
      p.top_k(c.topK());
      p.top_p(c.topP());
      p.seed(c.seed());
      p.escape_text(c.escapeText() ? 1 : 0);
      return p;
    }

    @Override
    public void close() {
      viscpm.viscpm_chat_session_free(handle);
      handle.setNull();
    }
  }

  private static final class Paint implements PaintBackend {
    private final viscpm_paint_model handle;

    Paint(viscpm_paint_model handle) {
      this.handle = handle;
    }

    @Override
    public int sizeMultiple() {
      return viscpm.viscpm_paint_size_multiple(handle);
    }

    @Override
    public int defaultSize() {
      return viscpm.viscpm_paint_default_size(handle);
    }

    @Override
    public long generate(PaintRequest request, int w, int h, ByteBuffer pixels, ProgressListener listener)
        throws VisCpmException {
      int scheduler = NativeEnums.scheduler(request.scheduler());
      long bytes = (long) request.numImages() * w * h * 3;
      try (BytePointer prompt = NativeLibrary.utf8(request.prompt());
          BytePointer negative = NativeLibrary.utf8(request.negativePrompt());
          viscpm_paint_params p = viscpm.viscpm_paint_default_params();
          Callbacks.Registration reg = Callbacks.progress((step, total) -> listener.onStep(step, total) ? 0 : 1);
          BytePointer dst = new BytePointer(pixels);
          LongPointer seed = new LongPointer(1)) {
        p.prompt(prompt).negative_prompt(negative).scheduler(scheduler).width(w).height(h).steps(request.steps())
            .guidance_scale(request.guidanceScale()).num_images(request.numImages()).eta(request.eta());
        if (request.seed().isPresent()) {
          p.seed(request.seed().getAsLong());
          p.has_seed(1);
        }
        int status = viscpm.viscpm_paint_generate(handle, p, Callbacks.progressThunk(), reg.userData, dst, bytes, seed);
        if (reg.failure != null) throw reg.failure;
        NativeLibrary.check(status);
        return seed.get(0);
      }
    }

    @Override
    public void close() {
      viscpm.viscpm_paint_model_free(handle);
      handle.setNull();
    }
  }
}
