package ai.viscpm.chat;

/**
 * One chat turn's result.
 *
 * @param text the answer
 * @param tokenIds output ids of the chosen hypothesis (a final EOS included when it ended with one)
 * @param endedWithEos false when the answer was cut by the maximum length
 * @param score beam search: sum of log-probabilities / length^lengthPenalty
 * @param promptTokens tokens of the prompt fed to the model
 * @param encodedImage whether the vision encoder ran for this turn (false: states reused)
 * @param secondsToFirstText time until the listener received the first text (NaN if none)
 * @param seconds wall time of the turn
 */
public record ChatAnswer(String text, int[] tokenIds, boolean endedWithEos, double score, int promptTokens,
    boolean encodedImage, double secondsToFirstText, double seconds) {
  /** Generated tokens per second over the turn. */
  public double tokensPerSecond() {
    return seconds > 0 ? tokenIds.length / seconds : 0;
  }
}
