package ai.viscpm.engine.jvm;

import ai.viscpm.internal.NativeLibrary;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Small helpers over bytedeco's LibTorch API, and the ownership rule of this engine.
 *
 * <p>Ownership: JavaCPP attaches every native object it creates (a {@link Tensor} handle, a
 * {@link org.bytedeco.pytorch.Scalar}, options) to the innermost {@link
 * org.bytedeco.javacpp.PointerScope} of the thread, which frees it when it closes. Every entry
 * point of the engine opens a scope for its temporaries; what must outlive the call (weights,
 * caches, results) is {@linkplain #keep kept}: its reference count is raised once, so the scope
 * leaves it alive and the object that holds it frees it in its {@code close()}. Never call
 * {@code PointerScope.detach} for that: in JavaCPP 1.5.13 it releases the reference the scope
 * held, which frees an object nobody else retained.
 */
public final class Torch {
  private Torch() {}

  /** bytedeco's LibTorch, then libviscpm, in the order that is safe on a cold JavaCPP cache. */
  static void load() {
    NativeLibrary.load();
  }

  /** Survives the enclosing PointerScope; the caller now owns it and must close() it once. */
  static <P extends Pointer> P keep(P pointer) {
    pointer.retainReference();
    return pointer;
  }

  static TensorOptions options(ScalarType type) {
    return new TensorOptions(type);
  }

  static Tensor empty(ScalarType type, long... shape) {
    return torch.empty(shape, options(type), new MemoryFormatOptional());
  }

  /** A new int64 tensor holding a copy of {@code values}, shaped {@code shape}. */
  public static Tensor longs(long[] values, long... shape) {
    Tensor t = empty(ScalarType.Long, shape);
    if (t.numel() != values.length) {
      throw new IllegalArgumentException(values.length + " values do not fill shape " + java.util.Arrays.toString(shape));
    }
    if (values.length > 0) new LongPointer(t.data_ptr()).put(values, 0, values.length);
    return t;
  }

  /** A new float32 tensor holding a copy of {@code values}, shaped {@code shape}. */
  public static Tensor floats(float[] values, long... shape) {
    Tensor t = empty(ScalarType.Float, shape);
    if (t.numel() != values.length) {
      throw new IllegalArgumentException(values.length + " values do not fill shape " + java.util.Arrays.toString(shape));
    }
    if (values.length > 0) new FloatPointer(t.data_ptr()).put(values, 0, values.length);
    return t;
  }

  /**
   * The dtype of {@code t}. JavaCPP returns native enums as fresh Java objects: compare only
   * interned values ({@code t.scalar_type() == ScalarType.Float} is always false).
   */
  static ScalarType typeOf(Tensor t) {
    return t.scalar_type().intern();
  }

  /**
   * A direct buffer over the storage of a contiguous float32 tensor: what is written into it
   * lands in the tensor (used to read checkpoint tensors straight into weight storage).
   */
  static FloatBuffer floatBuffer(Tensor t) {
    if (typeOf(t) != ScalarType.Float || !t.is_contiguous()) {
      throw new IllegalArgumentException("need a contiguous float32 tensor, got " + typeOf(t));
    }
    return new FloatPointer(t.data_ptr()).capacity(t.numel()).asBuffer();
  }

  /** The values of any real tensor, as doubles in row-major order (a copy). */
  public static double[] toDoubles(Tensor t) {
    Tensor d = t.to(ScalarType.Double).contiguous();
    double[] out = new double[Math.toIntExact(d.numel())];
    if (out.length > 0) {
      DoubleBuffer buffer = new DoublePointer(d.data_ptr()).capacity(out.length).asBuffer();
      buffer.get(out);
    }
    return out;
  }

  public static long[] shape(Tensor t) {
    long[] s = new long[(int) t.dim()];
    for (int i = 0; i < s.length; i++) s[i] = t.size(i);
    return s;
  }

  public static Tensor cat(long dim, Tensor... parts) {
    return torch.cat(new TensorVector(parts), dim);
  }

  /** [B, L] -> [B, L, 1] (query side of a pair table). */
  static Tensor queryColumn(Tensor t) {
    return t.unsqueeze(2);
  }

  /** [B, T] -> [B, 1, T] (key side of a pair table). */
  static Tensor keyRow(Tensor t) {
    return t.unsqueeze(1);
  }
}
