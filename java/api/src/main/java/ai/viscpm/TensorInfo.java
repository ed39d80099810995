package ai.viscpm;

import java.util.Arrays;

/**
 * One tensor of a weight file as the file declares it.
 *
 * @param name key in the state dict
 * @param dtype stored element type ("float32", "float16", "bfloat16", "int64", ...)
 * @param shape dimensions
 * @param bytes size of the tensor in its stored dtype
 * @param contiguous whether it is stored densely in row-major order
 */
public record TensorInfo(String name, String dtype, long[] shape, long bytes, boolean contiguous) {
  public TensorInfo {
    shape = shape.clone();
  }

  @Override
  public long[] shape() {
    return shape.clone();
  }

  public long numel() {
    long n = 1;
    for (long d : shape) n *= d;
    return n;
  }

  public String shapeString() {
    return Arrays.toString(shape);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorInfo t && name.equals(t.name) && dtype.equals(t.dtype)
        && Arrays.equals(shape, t.shape) && bytes == t.bytes && contiguous == t.contiguous;
  }

  @Override
  public int hashCode() {
    return name.hashCode() * 31 + Arrays.hashCode(shape);
  }

  @Override
  public String toString() {
    return name + " " + dtype + " " + shapeString();
  }
}
