package ai.viscpm.chat;

import ai.viscpm.internal.NativeDefaults;

/**
 * How an answer is generated. {@link #defaults()} is the released VisCPM-Chat setting (beam
 * search, 3 beams, temperature 0.7, repetition penalty 1.1, length penalty 3, max length 512),
 * which reproduces the reference token for token. Greedy and top-k/top-p sampling are
 * extensions. Immutable; build with {@link #builder()}.
 */
public record GenerationConfig(Decoding decoding, int beamSize, int maxLength, int maxInputLength,
    float temperature, float repetitionPenalty, float lengthPenalty, int topK, float topP, long seed,
    boolean escapeText) {

  public enum Decoding { BEAM_SEARCH, GREEDY, SAMPLING }

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
    public Builder maxLength(int n) { this.maxLength = n; return this; }
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
      return new GenerationConfig(decoding, beamSize, maxLength, maxInputLength, temperature, repetitionPenalty,
          lengthPenalty, topK, topP, seed, escapeText);
    }
  }
}
