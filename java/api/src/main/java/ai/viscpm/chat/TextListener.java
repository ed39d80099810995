package ai.viscpm.chat;

/**
 * Receives the answer while it is generated, as text becomes final (for beam search: the
 * part every live hypothesis agrees on). The pieces concatenate to the final answer. Runs
 * on the generating thread; return false to cancel the turn.
 */
@FunctionalInterface
public interface TextListener {
  boolean onText(String text);
}
