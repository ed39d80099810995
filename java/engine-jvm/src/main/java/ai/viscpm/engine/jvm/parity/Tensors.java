package ai.viscpm.engine.jvm.parity;

import java.nio.DoubleBuffer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** The few tensor helpers the golden-case runner needs (results belong to the caller's scope). */
final class Tensors {
  private Tensors() {}

  static Tensor floats(float[] values, long... shape) {
    Tensor t = torch.empty(shape, new TensorOptions(ScalarType.Float), new MemoryFormatOptional());
    if (t.numel() != values.length) throw new IllegalArgumentException(values.length + " values for shape "
        + java.util.Arrays.toString(shape));
    if (values.length > 0) new FloatPointer(t.data_ptr()).put(values, 0, values.length);
    return t;
  }

  static Tensor longs(long[] values, long... shape) {
    Tensor t = torch.empty(shape, new TensorOptions(ScalarType.Long), new MemoryFormatOptional());
    if (t.numel() != values.length) throw new IllegalArgumentException(values.length + " values for shape "
        + java.util.Arrays.toString(shape));
    if (values.length > 0) new LongPointer(t.data_ptr()).put(values, 0, values.length);
    return t;
  }

  static double[] toDoubles(Tensor t) {
    Tensor d = t.to(ScalarType.Double).contiguous();
    double[] out = new double[Math.toIntExact(d.numel())];
    if (out.length > 0) {
      DoubleBuffer buffer = new DoublePointer(d.data_ptr()).capacity(out.length).asBuffer();
      buffer.get(out);
    }
    return out;
  }

  static long[] shape(Tensor t) {
    long[] s = new long[(int) t.dim()];
    for (int i = 0; i < s.length; i++) s[i] = t.size(i);
    return s;
  }

  static Tensor cat(long dim, Tensor... parts) {
    return torch.cat(new TensorVector(parts), dim);
  }
}
