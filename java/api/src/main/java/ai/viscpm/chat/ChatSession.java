package ai.viscpm.chat;

import ai.viscpm.VisCpmException;
import ai.viscpm.internal.Callbacks;
import ai.viscpm.internal.NativeEnums;
import ai.viscpm.internal.NativeLibrary;
import ai.viscpm.internal.NativeObject;
import ai.viscpm.internal.jni.global.viscpm;
import ai.viscpm.internal.jni.viscpm_chat_session;
import ai.viscpm.internal.jni.viscpm_chat_turn;
import ai.viscpm.internal.jni.viscpm_generation_params;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * A multi-turn conversation about one image. The image is encoded once, when the session
 * opens; every turn reuses its vision states and appends to the history in the reference's
 * format ({@code User: ...\nAI: ...\n}).
 *
 * <p>Not thread-safe: one turn at a time. {@link #cancel()} may be called from any thread.
 */
public final class ChatSession extends NativeObject {
  private final ChatModel model;
  private final viscpm_chat_session handle;

  ChatSession(ChatModel model, viscpm_chat_session handle) {
    this.model = model;
    this.handle = handle;
  }

  /** Asks with the released settings; returns the answer text. */
  public String ask(String question) throws VisCpmException {
    return ask(question, GenerationConfig.defaults(), null).text();
  }

  /**
   * One turn.
   *
   * @param listener receives the answer as it becomes final (may be null); returning false cancels
   * @throws ai.viscpm.CancelledException if cancelled (the history is unchanged)
   * @throws ai.viscpm.InvalidInputException for a bad config or an over-long prompt
   */
  public ChatAnswer ask(String question, GenerationConfig config, TextListener listener) throws VisCpmException {
    long start = System.nanoTime();
    long[] firstText = {-1};
    try (Use use = use(); BytePointer q = NativeLibrary.utf8(question);
        viscpm_generation_params params = toNative(config);
        Callbacks.Registration reg = Callbacks.text(text -> {
          if (firstText[0] < 0) firstText[0] = System.nanoTime();
          return listener == null || listener.onText(text);
        });
        PointerPointer<viscpm_chat_turn> out = new PointerPointer<>(1)) {
      int status = viscpm.viscpm_chat_session_ask(handle, q, params, Callbacks.textThunk(), reg.userData, out);
      if (reg.failure != null) throw reg.failure;
      NativeLibrary.check(status);
      viscpm_chat_turn turn = out.get(viscpm_chat_turn.class, 0);
      try {
        int[] ids = new int[Math.toIntExact(turn.token_count())];
        if (ids.length > 0) turn.token_ids().capacity(ids.length).get(ids);
        double seconds = (System.nanoTime() - start) / 1e9;
        double ttft = firstText[0] < 0 ? Double.NaN : (firstText[0] - start) / 1e9;
        return new ChatAnswer(NativeLibrary.string(turn.answer(), turn.answer_bytes()), ids, turn.ended_with_eos() != 0,
            turn.score(), Math.toIntExact(turn.prompt_tokens()), turn.encoded_image() != 0, ttft, seconds);
      } finally {
        viscpm.viscpm_chat_turn_free(turn);
      }
    }
  }

  /**
   * One turn on {@code executor} (never run generations on a request, UI or game thread).
   * Cancelling the returned future stops the turn at its next decode step (the history is then
   * unchanged) and completes the future with a {@link java.util.concurrent.CancellationException};
   * cancel this future itself, not one derived from it with {@code thenApply}. Turns of one
   * session still run one at a time, and a cancelled turn may still be finishing its step when
   * its future completes: give each session a single-thread executor.
   *
   * @param listener receives the answer as it becomes final (may be null); returning false cancels
   */
  public java.util.concurrent.CompletableFuture<ChatAnswer> askAsync(String question, GenerationConfig config,
      TextListener listener, java.util.concurrent.Executor executor) {
    return ai.viscpm.internal.CancellableTask.start(executor, this::cancelQuietly, task ->
        ask(question, config, text -> !task.isCancelled() && (listener == null || listener.onText(text))));
  }

  /** {@link #askAsync(String, GenerationConfig, TextListener, java.util.concurrent.Executor)} with the released settings. */
  public java.util.concurrent.CompletableFuture<ChatAnswer> askAsync(String question,
      java.util.concurrent.Executor executor) {
    return askAsync(question, GenerationConfig.defaults(), null, executor);
  }

  private void cancelQuietly() {
    try {
      cancel();
    } catch (RuntimeException closed) {
      // The session was closed meanwhile: nothing runs any more.
    }
  }

  /** Stops a turn running on another thread; it ends with a CancelledException. */
  public void cancel() {
    try (Use use = use()) {
      viscpm.viscpm_chat_session_cancel(handle);
    }
  }

  /** One earlier exchange of a conversation, as the user saw it (plain text, not markup). */
  public record Exchange(String question, String answer) {}

  /**
   * Replaces the history with earlier exchanges (e.g. the messages an HTTP client sent), so
   * the next {@link #ask} continues that conversation; the image stays the session's.
   */
  public void restoreHistory(java.util.List<Exchange> exchanges) throws VisCpmException {
    StringBuilder context = new StringBuilder();
    for (Exchange e : exchanges) {
      context.append("User: ").append(ai.viscpm.text.Tokenizer.escape(e.question())).append('\n');
      context.append("AI: ").append(ai.viscpm.text.Tokenizer.escape(e.answer())).append('\n');
    }
    try (Use use = use(); BytePointer c = NativeLibrary.utf8(context.toString())) {
      NativeLibrary.check(viscpm.viscpm_chat_session_set_context(handle, c));
    }
  }

  /** The conversation so far, in the reference's format. */
  public String history() throws VisCpmException {
    try (Use use = use(); PointerPointer<BytePointer> out = new PointerPointer<>(1)) {
      NativeLibrary.check(viscpm.viscpm_chat_session_context(handle, out));
      BytePointer text = out.get(BytePointer.class, 0);
      try {
        return NativeLibrary.string(text);
      } finally {
        viscpm.viscpm_string_free(text);
      }
    }
  }

  public ChatModel model() {
    return model;
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
  protected void release() {
    viscpm.viscpm_chat_session_free(handle);
    handle.setNull();
  }
}
