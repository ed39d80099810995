package ai.viscpm.chat;

import ai.viscpm.VisCpmException;
import ai.viscpm.internal.NativeObject;
import ai.viscpm.spi.SessionBackend;

/**
 * A multi-turn conversation about one image. The image is encoded once, when the session
 * opens; every turn reuses its vision states and appends to the history in the reference's
 * format ({@code User: ...\nAI: ...\n}).
 *
 * <p>Not thread-safe: one turn at a time. {@link #cancel()} may be called from any thread.
 */
public final class ChatSession extends NativeObject {
  private final ChatModel model;
  private final SessionBackend backend;

  ChatSession(ChatModel model, SessionBackend backend) {
    this.model = model;
    this.backend = backend;
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
    try (Use use = use()) {
      ChatAnswer a = backend.ask(question, config, text -> {
        if (firstText[0] < 0) firstText[0] = System.nanoTime();
        return listener == null || listener.onText(text);
      });
      double seconds = (System.nanoTime() - start) / 1e9;
      double ttft = firstText[0] < 0 ? Double.NaN : (firstText[0] - start) / 1e9;
      return new ChatAnswer(a.text(), a.tokenIds(), a.endedWithEos(), a.score(), a.promptTokens(), a.encodedImage(),
          ttft, seconds);
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
      backend.cancel();
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
    try (Use use = use()) {
      backend.setContext(context.toString());
    }
  }

  /** The conversation so far, in the reference's format. */
  public String history() throws VisCpmException {
    try (Use use = use()) {
      return backend.context();
    }
  }

  public ChatModel model() {
    return model;
  }

  @Override
  protected void release() {
    backend.close();
  }
}
