package ai.viscpm;

/** Parameter and activation precision of a model. */
public enum DType {
  /** float32 on the CPU, float16 on CUDA: the reference's numerics. */
  AUTO,
  FLOAT32,
  BFLOAT16,
  FLOAT16;

  public static DType parse(String name) {
    for (DType d : values()) {
      if (d.name().equalsIgnoreCase(name) || d.name().replace("FLOAT", "FP").equalsIgnoreCase(name)) return d;
    }
    throw new IllegalArgumentException("unknown dtype '" + name + "' (auto, float32, bfloat16, float16)");
  }
}
