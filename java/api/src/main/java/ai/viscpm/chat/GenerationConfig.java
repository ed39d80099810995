package ai.viscpm.chat;

import ai.viscpm.internal.NativeDefaults;

/**
 * How an answer is generated. {@link #defaults()} is the released VisCPM-Chat setting (beam
 * search, 3 beams, temperature 0.7, repetition penalty 1.1, length penalty 3, max length 512),
 * which reproduces the reference token for token. Greedy and top-k/top-p sampling are
 * extensions. Immutable; build with {@link #builder()}.
 *
 * <p><b>Answer length.</b> {@code maxLength} is the reference's {@code max_length}, kept for
 * token-for-token parity: beam search may produce up to {@code maxLength + 2} tokens (the
 * reference's loop runs steps 0..maxLength+1, chat.md §4.6; so 514 at the default 512, and 2 at
 * 0), greedy decoding and sampling at most {@code maxLength}; a final end-of-answer token counts
 * and is not shown. {@link Builder#maxTokens(int)} sets a hard cap instead (OpenAI's
 * {@code max_tokens}), and {@link #maxAnswerTokens()} is the cap in effect.
 */
public record GenerationConfig(Decoding decoding, int beamSize, int maxLength, int maxInputLength,
    float temperature, float repetitionPenalty, float lengthPenalty, int topK, float topP, long seed,
    boolean escapeText) {

  public enum Decoding { BEAM_SEARCH, GREEDY, SAMPLING }

  /** The most tokens an answer can have with these settings (a final end-of-answer token included). */
  public int maxAnswerTokens() {
    return decoding == Decoding.BEAM_SEARCH ? maxLength + 2 : maxLength;
  }

  public static GenerationConfig defaults() {
    return builder().build();
  }

  public static Builder builder() {
    return new Builder();
  }

  public Builder toBuilder() {
    Builder b = new Builder();
    b.decoding = decoding;
    b.beamSize = beamSize;
    b.maxLength = maxLength;
    b.maxInputLength = maxInputLength;
    b.temperature = temperature;
    b.repetitionPenalty = repetitionPenalty;
    b.lengthPenalty = lengthPenalty;
    b.topK = topK;
    b.topP = topP;
    b.seed = seed;
    b.escapeText = escapeText;
    return b;
  }

  /** Starts from the native defaults (viscpm_generation_default_params). */
  public static final class Builder {
    private Decoding decoding;
    private int beamSize;
    private int maxLength;
    private int maxInputLength;
    private float temperature;
    private float repetitionPenalty;
    private float lengthPenalty;
    private int topK;
    private float topP;
    private long seed;
    private boolean escapeText;
    private int maxTokens = -1;  // -1: maxLength as given

    private Builder() {
      NativeDefaults.Generation d = NativeDefaults.generation();
      decoding = Decoding.valueOf(d.decoding().toUpperCase(java.util.Locale.ROOT));
      beamSize = d.beamSize();
      maxLength = d.maxLength();
      maxInputLength = d.maxInputLength();
      temperature = d.temperature();
      repetitionPenalty = d.repetitionPenalty();
      lengthPenalty = d.lengthPenalty();
      topK = d.topK();
      topP = d.topP();
      seed = d.seed();
      escapeText = d.escapeText();
    }

    public Builder decoding(Decoding d) { this.decoding = d; return this; }
    public Builder beamSize(int n) { this.beamSize = n; return this; }
    /** The reference's max_length (beam search: up to n + 2 tokens; see the class comment). */
    public Builder maxLength(int n) { this.maxLength = n; this.maxTokens = -1; return this; }
    /**
     * At most n answer tokens, whatever the decoding (a final end-of-answer token counts): for
     * beam search this is maxLength n - 2, so n must be at least 2 there (the reference's beam
     * search always runs two steps); for greedy decoding and sampling, maxLength n.
     */
    public Builder maxTokens(int n) {
      if (n < 0) throw new IllegalArgumentException("maxTokens must be >= 0, got " + n);
      this.maxTokens = n;
      return this;
    }
    public Builder maxInputLength(int n) { this.maxInputLength = n; return this; }
    public Builder temperature(float t) { this.temperature = t; return this; }
    public Builder repetitionPenalty(float p) { this.repetitionPenalty = p; return this; }
    public Builder lengthPenalty(float p) { this.lengthPenalty = p; return this; }
    /** Sampling with the k most likely tokens (0 = all) and nucleus p (1 = all), seeded. */
    public Builder sampling(int topK, float topP, long seed) {
      this.decoding = Decoding.SAMPLING;
      this.topK = topK;
      this.topP = topP;
      this.seed = seed;
      return this;
    }
    public Builder greedy() { this.decoding = Decoding.GREEDY; return this; }
    /**
     * Whether a {@code <} in the question is literal (default) or CPM-Bee markup as in the
     * reference (needed for token-for-token parity with questions holding markup).
     */
    public Builder escapeText(boolean escape) { this.escapeText = escape; return this; }

    public GenerationConfig build() {
      int length = maxLength;
      if (maxTokens >= 0) {
        if (decoding == Decoding.BEAM_SEARCH && maxTokens < 2) {
          throw new IllegalArgumentException("beam search answers can take 2 tokens even at max_length 0 (the "
              + "reference's rule); ask for at least 2 tokens, or decode greedily for " + maxTokens);
        }
        length = decoding == Decoding.BEAM_SEARCH ? maxTokens - 2 : maxTokens;
      }
      return new GenerationConfig(decoding, beamSize, length, maxInputLength, temperature, repetitionPenalty,
          lengthPenalty, topK, topP, seed, escapeText);
    }
  }
}
