package ai.viscpm.spark;

import ai.viscpm.paint.PaintRequest;
import java.io.Serializable;
import java.util.Objects;

/**
 * How {@link VisCpmSpark#paint} paints a prompt column into PNG bytes. Serializable: it
 * travels to the executors inside the task. Unset painting settings keep VisCPM-Paint's
 * defaults (those of {@link PaintRequest#builder}). Build with {@link #builder(ModelFiles)}.
 *
 * <p>Seeds: with a {@link Builder#seedColumn seed column} (long) each row is painted with its
 * own seed; otherwise with {@link Builder#seed one seed} for every row, or a fresh random
 * seed per row. The seed used is written to {@link #seedOutputColumn()} either way, so any
 * row can be painted again.
 */
public final class PaintOptions implements Serializable {
  private static final long serialVersionUID = 1L;

  private final ModelFiles model;
  private final String promptColumn;
  private final String seedColumn;
  private final Long seed;
  private final String negativePrompt;
  private final String scheduler;
  private final Integer steps;
  private final Integer width;
  private final Integer height;
  private final Float guidanceScale;
  private final int imagesPerRow;
  private final String imageColumn;
  private final String seedOutputColumn;
  private final String errorColumn;
  private final boolean failFast;
  private final int threads;

  private PaintOptions(Builder b) {
    model = b.model;
    promptColumn = b.promptColumn;
    seedColumn = b.seedColumn;
    seed = b.seed;
    negativePrompt = b.negativePrompt;
    scheduler = b.scheduler;
    steps = b.steps;
    width = b.width;
    height = b.height;
    guidanceScale = b.guidanceScale;
    imagesPerRow = b.imagesPerRow;
    imageColumn = b.imageColumn;
    seedOutputColumn = b.seedOutputColumn;
    errorColumn = b.errorColumn;
    failFast = b.failFast;
    threads = b.threads;
  }

  public static Builder builder(ModelFiles model) {
    return new Builder(model);
  }

  public ModelFiles model() { return model; }
  public String promptColumn() { return promptColumn; }
  /** The long column of per-row seeds, or null. */
  public String seedColumn() { return seedColumn; }
  public int imagesPerRow() { return imagesPerRow; }
  public String imageColumn() { return imageColumn; }
  public String seedOutputColumn() { return seedOutputColumn; }
  public String errorColumn() { return errorColumn; }
  public boolean failFast() { return failFast; }
  public int threads() { return threads; }

  /**
   * The request a row is painted with: the same an in-process caller builds for that prompt
   * and seed (rowSeed null: the fixed seed if any, else a fresh one).
   */
  public PaintRequest request(String prompt, Long rowSeed) {
    PaintRequest.Builder b = PaintRequest.builder(prompt).numImages(imagesPerRow);
    if (negativePrompt != null) b.negativePrompt(negativePrompt);
    if (scheduler != null) b.scheduler(scheduler);
    if (steps != null) b.steps(steps);
    if (width != null) b.size(width, height);
    if (guidanceScale != null) b.guidanceScale(guidanceScale);
    Long s = rowSeed != null ? rowSeed : seed;
    if (s != null) b.seed(s);
    return b.build();
  }

  public static final class Builder {
    private final ModelFiles model;
    private String promptColumn = "prompt";
    private String seedColumn;
    private Long seed;
    private String negativePrompt;
    private String scheduler;
    private Integer steps;
    private Integer width;
    private Integer height;
    private Float guidanceScale;
    private int imagesPerRow = 1;
    private String imageColumn = "image";
    private String seedOutputColumn = "seed";
    private String errorColumn = "viscpm_error";
    private boolean failFast;
    private int threads;

    private Builder(ModelFiles model) {
      this.model = Objects.requireNonNull(model, "model");
    }

    public Builder promptColumn(String name) { this.promptColumn = Objects.requireNonNull(name); return this; }
    /** A long (or int) column with each row's seed; a null cell falls back to {@link #seed} or a fresh seed. */
    public Builder seedColumn(String name) { this.seedColumn = name; return this; }
    /** One seed for every row without its own. */
    public Builder seed(long s) { this.seed = s; return this; }
    public Builder negativePrompt(String s) { this.negativePrompt = s; return this; }
    public Builder scheduler(String name) { this.scheduler = name; return this; }
    public Builder steps(int n) { this.steps = n; return this; }
    /** Pixels; multiples of the model's size multiple (0 = the model's default). */
    public Builder size(int w, int h) { this.width = w; this.height = h; return this; }
    public Builder guidanceScale(float g) { this.guidanceScale = g; return this; }
    /**
     * Images painted per row in ONE request (the model's batch: one text encoding, one
     * denoising loop over k latents). 1 (default): the image column is binary; more: an array
     * of binary.
     */
    public Builder imagesPerRow(int k) { this.imagesPerRow = k; return this; }
    /** The output column (PNG bytes, null for a failed row). Default "image". */
    public Builder imageColumn(String name) { this.imageColumn = Objects.requireNonNull(name); return this; }
    /** The output column with the seed each row was painted with. Default "seed". */
    public Builder seedOutputColumn(String name) { this.seedOutputColumn = Objects.requireNonNull(name); return this; }
    public Builder errorColumn(String name) { this.errorColumn = Objects.requireNonNull(name); return this; }
    /** true: the first bad row fails the task (and so the job); false (default): null image + error column. */
    public Builder failFast(boolean on) { this.failFast = on; return this; }
    /** LibTorch intra-op threads of the executor JVM; 0 (default) = {@code spark.task.cpus}. */
    public Builder threads(int n) { this.threads = n; return this; }

    public PaintOptions build() {
      if (imagesPerRow < 1) throw new IllegalArgumentException("imagesPerRow must be >= 1, got " + imagesPerRow);
      if (threads < 0) throw new IllegalArgumentException("threads must be >= 0 (0 = spark.task.cpus), got " + threads);
      if (steps != null && steps < 1) throw new IllegalArgumentException("steps must be >= 1, got " + steps);
      if (width != null && (width < 0 || height < 0)) {
        throw new IllegalArgumentException("size must not be negative, got " + width + "x" + height);
      }
      var outputs = new java.util.HashSet<>(java.util.List.of(imageColumn, seedOutputColumn, errorColumn));
      if (outputs.size() != 3) {
        throw new IllegalArgumentException("imageColumn, seedOutputColumn and errorColumn must differ, got "
            + imageColumn + ", " + seedOutputColumn + ", " + errorColumn);
      }
      return new PaintOptions(this);
    }
  }
}
