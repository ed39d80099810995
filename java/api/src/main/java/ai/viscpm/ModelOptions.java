package ai.viscpm;

/**
 * Where and how a model runs. Immutable; build with {@link #builder()}.
 *
 * @param device CPU (default), CUDA, or AUTO (CUDA when usable, else the CPU with a warning)
 * @param cudaIndex which CUDA device when there are several
 * @param dtype parameter precision (AUTO: float32 on the CPU, float16 on CUDA)
 * @param verifyChecksums check the CRC-32 of every checkpoint record read (default true)
 * @param lowMemory VisCPM-Paint only (default false): keep CPM-Bee only while a prompt is encoded,
 *     reading its weights again for every image, so the text encoder and the denoising loop never
 *     hold memory at the same time; chat models refuse it
 * @param engine which implementation runs the model (default {@link Engine#NATIVE}; {@link Engine#JVM}
 *     needs {@code ai.viscpm:viscpm-engine-jvm} on the class path)
 *
 * <p>CPU threads belong to the process, not to a model: see {@link VisCpm#setThreads}.
 */
public record ModelOptions(Device device, int cudaIndex, DType dtype, boolean verifyChecksums, boolean lowMemory,
    Engine engine) {
  public ModelOptions {
    if (cudaIndex < 0) throw new IllegalArgumentException("cudaIndex must be >= 0");
    if (engine == null) engine = Engine.NATIVE;
  }

  /** The options on the native engine (the form before {@link #engine()} existed). */
  public ModelOptions(Device device, int cudaIndex, DType dtype, boolean verifyChecksums, boolean lowMemory) {
    this(device, cudaIndex, dtype, verifyChecksums, lowMemory, Engine.NATIVE);
  }

  public static ModelOptions defaults() {
    return builder().build();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The device string of the native API ("cpu", "cuda:0", "auto"). */
  public String deviceName() {
    return switch (device) {
      case CPU -> "cpu";
      case AUTO -> "auto";
      case CUDA -> "cuda:" + cudaIndex;
    };
  }

  public static final class Builder {
    private Device device = Device.CPU;
    private int cudaIndex;
    private DType dtype = DType.AUTO;
    private boolean verifyChecksums = true;
    private boolean lowMemory;
    private Engine engine = Engine.NATIVE;

    public Builder device(Device device) {
      this.device = device;
      return this;
    }

    public Builder cudaIndex(int index) {
      this.cudaIndex = index;
      return this;
    }

    public Builder dtype(DType dtype) {
      this.dtype = dtype;
      return this;
    }

    public Builder verifyChecksums(boolean verify) {
      this.verifyChecksums = verify;
      return this;
    }

    public Builder lowMemory(boolean lowMemory) {
      this.lowMemory = lowMemory;
      return this;
    }

    /** {@link Engine#NATIVE} (default) or {@link Engine#JVM} (needs viscpm-engine-jvm on the class path). */
    public Builder engine(Engine engine) {
      this.engine = engine == null ? Engine.NATIVE : engine;
      return this;
    }

    public ModelOptions build() {
      return new ModelOptions(device, cudaIndex, dtype, verifyChecksums, lowMemory, engine);
    }
  }
}
