package ai.viscpm.spark;

import ai.viscpm.chat.GenerationConfig;
import java.io.Serializable;
import java.util.Objects;

/**
 * How {@link VisCpmSpark#caption} captions an image column. Serializable: it travels to the
 * executors inside the task. Build with {@link #builder(ModelFiles)}.
 *
 * <p>The image column may be binary (encoded PNG, JPEG, BMP or WebP bytes, e.g. what
 * {@code spark.read().format("binaryFile")} gives in {@code content}) or a string (a path
 * readable on the executor node).
 */
public final class CaptionOptions implements Serializable {
  private static final long serialVersionUID = 1L;

  private final ModelFiles model;
  private final String imageColumn;
  private final String question;
  private final int maxTokens;
  private final GenerationConfig.Decoding decoding;
  private final String captionColumn;
  private final String errorColumn;
  private final boolean failFast;
  private final int threads;

  private CaptionOptions(Builder b) {
    this.model = b.model;
    this.imageColumn = b.imageColumn;
    this.question = b.question;
    this.maxTokens = b.maxTokens;
    this.decoding = b.decoding;
    this.captionColumn = b.captionColumn;
    this.errorColumn = b.errorColumn;
    this.failFast = b.failFast;
    this.threads = b.threads;
  }

  public static Builder builder(ModelFiles model) {
    return new Builder(model);
  }

  public ModelFiles model() { return model; }
  public String imageColumn() { return imageColumn; }
  public String question() { return question; }
  public int maxTokens() { return maxTokens; }
  public GenerationConfig.Decoding decoding() { return decoding; }
  public String captionColumn() { return captionColumn; }
  public String errorColumn() { return errorColumn; }
  public boolean failFast() { return failFast; }
  public int threads() { return threads; }

  /** The generation settings every row is answered with (the same an in-process caller would use). */
  public GenerationConfig generationConfig() {
    GenerationConfig.Builder b = GenerationConfig.builder();
    if (decoding == GenerationConfig.Decoding.GREEDY) b.greedy();
    return b.maxTokens(maxTokens).build();
  }

  public static final class Builder {
    private final ModelFiles model;
    private String imageColumn = "image";
    private String question = "Describe this image in one sentence.";
    private int maxTokens = 64;
    private GenerationConfig.Decoding decoding = GenerationConfig.Decoding.BEAM_SEARCH;
    private String captionColumn = "caption";
    private String errorColumn = "viscpm_error";
    private boolean failFast;
    private int threads;

    private Builder(ModelFiles model) {
      this.model = Objects.requireNonNull(model, "model");
    }

    /** The input column: binary (encoded image) or string (path on the executor). Default "image". */
    public Builder imageColumn(String name) { this.imageColumn = Objects.requireNonNull(name); return this; }
    public Builder question(String q) { this.question = Objects.requireNonNull(q); return this; }
    /** At most this many answer tokens (default 64); see {@link GenerationConfig.Builder#maxTokens}. */
    public Builder maxTokens(int n) { this.maxTokens = n; return this; }
    /** BEAM_SEARCH (the released setting, default) or GREEDY (faster). Sampling is not offered: rows must be reproducible. */
    public Builder decoding(GenerationConfig.Decoding d) { this.decoding = Objects.requireNonNull(d); return this; }
    /** The output column (string, null for a failed row). Default "caption". */
    public Builder captionColumn(String name) { this.captionColumn = Objects.requireNonNull(name); return this; }
    /** The column holding why a row failed (null for a good row). Default "viscpm_error". */
    public Builder errorColumn(String name) { this.errorColumn = Objects.requireNonNull(name); return this; }
    /** true: the first bad row fails the task (and so the job); false (default): null caption + error column. */
    public Builder failFast(boolean on) { this.failFast = on; return this; }
    /**
     * LibTorch intra-op threads of the executor JVM (process-wide: the last value set wins);
     * 0 (default) = {@code spark.task.cpus}, so concurrent tasks together use the executor's cores.
     */
    public Builder threads(int n) { this.threads = n; return this; }

    public CaptionOptions build() {
      if (decoding == GenerationConfig.Decoding.SAMPLING) {
        throw new IllegalArgumentException("sampling is not offered for batch captions: a retried task must give the "
            + "same answer; use BEAM_SEARCH or GREEDY");
      }
      if (threads < 0) throw new IllegalArgumentException("threads must be >= 0 (0 = spark.task.cpus), got " + threads);
      if (captionColumn.equals(errorColumn)) {
        throw new IllegalArgumentException("captionColumn and errorColumn are both '" + captionColumn + "'");
      }
      // GenerationConfig's own rule, checked here so that the driver never loads the native library.
      int least = decoding == GenerationConfig.Decoding.BEAM_SEARCH ? 2 : 0;
      if (maxTokens < least) {
        throw new IllegalArgumentException("maxTokens must be >= " + least + " for " + decoding + ", got " + maxTokens
            + (least == 2 ? " (beam search answers take 2 tokens even at max_length 0)" : ""));
      }
      return new CaptionOptions(this);
    }
  }
}
