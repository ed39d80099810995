package ai.viscpm;

/** Parameter and activation precision of a model. */
public enum DType {
  /**
   * float32 on the CPU, float16 on CUDA: the reference's numerics; a model directory written by
   * {@link Quantization#quantize} loads as {@link #INT8}.
   */
  AUTO,
  FLOAT32,
  BFLOAT16,
  FLOAT16,
  /**
   * CPM-Bee's weight matrices (linear layers and the tied embedding) as int8 rows with one float32
   * scale each, everything else as {@link #AUTO}: half the bytes of float16 per decode step. A
   * float checkpoint is quantized while it loads; one written by {@link Quantization#quantize} is
   * read as it is.
   */
  INT8;

  public static DType parse(String name) {
    for (DType d : values()) {
      if (d.name().equalsIgnoreCase(name) || d.name().replace("FLOAT", "FP").equalsIgnoreCase(name)) return d;
    }
    throw new IllegalArgumentException("unknown dtype '" + name + "' (auto, float32, bfloat16, float16, int8)");
  }
}
