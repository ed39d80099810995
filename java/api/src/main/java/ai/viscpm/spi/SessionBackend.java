package ai.viscpm.spi;

import ai.viscpm.VisCpmException;
import ai.viscpm.chat.ChatAnswer;
import ai.viscpm.chat.GenerationConfig;
import ai.viscpm.chat.TextListener;

/** One conversation of a {@link ChatBackend}: one turn at a time, {@link #cancel()} from any thread. */
public interface SessionBackend extends AutoCloseable {
  /**
   * One turn. {@code listener} (never null) hears the answer text as it becomes final; returning
   * false cancels at the next step; an exception it throws propagates. The answer's timing
   * fields are filled in by the caller.
   */
  ChatAnswer ask(String question, GenerationConfig config, TextListener listener) throws VisCpmException;

  /** Stops the turn in flight (a no-op when none runs). */
  void cancel();

  /** Replaces the history (model text, the reference's format). */
  void setContext(String context) throws VisCpmException;

  /** The history in the reference's format. */
  String context() throws VisCpmException;

  @Override
  void close();
}
