package ai.viscpm.engine.jvm;

import ai.viscpm.Checkpoint;
import ai.viscpm.FormatException;
import ai.viscpm.TensorInfo;
import ai.viscpm.VisCpmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Reads the {@code prefix} keys of a checkpoint into tensors of one dtype through the C API,
 * checking every shape against what the model expects and remembering which keys were used,
 * so that unknown ones can be reported (strict loading, as the native loader does).
 *
 * <p>float32: {@link Checkpoint#readFloat} writes straight into the storage LibTorch allocated
 * for the weight (no Java-side copy). Reduced dtypes: one float32 staging tensor per weight,
 * converted by {@code copy_} and freed at once.
 */
final class WeightReader {
  private final Checkpoint checkpoint;
  private final String prefix;
  private final ScalarType dtype;
  private final String model;
  private final Map<String, TensorInfo> infos = new HashMap<>();
  private final Set<String> used = new HashSet<>();

  WeightReader(Checkpoint checkpoint, String prefix, ScalarType dtype, String model) {
    this.checkpoint = checkpoint;
    this.prefix = prefix;
    this.dtype = dtype;
    this.model = model;
    for (TensorInfo info : checkpoint.tensors()) {
      if (info.name().startsWith(prefix)) infos.put(info.name(), info);
    }
  }

  /** Whether the checkpoint holds key {@code name} (without the prefix). */
  boolean has(String name) {
    return infos.containsKey(prefix + name);
  }

  /** A new tensor of the reader's dtype holding key {@code name} (without the prefix). */
  Tensor read(String name, long... shape) throws VisCpmException {
    Tensor t = Torch.empty(dtype, shape);
    readInto(name, t);
    return t;
  }

  /** Reads key {@code name} into {@code target}, a contiguous tensor of the reader's dtype. */
  void readInto(String name, Tensor target) throws VisCpmException {
    String key = prefix + name;
    TensorInfo info = infos.get(key);
    if (info == null) throw new FormatException("checkpoint has no tensor \"" + key + "\" (" + model + " parameter)");
    long[] expected = Torch.shape(target);
    if (!Arrays.equals(info.shape(), expected)) {
      throw new FormatException("checkpoint tensor \"" + key + "\" has shape " + info.shapeString() + ", the " + model
          + " model expects " + Arrays.toString(expected) + " (check the config)");
    }
    used.add(key);
    if (dtype == ScalarType.Float) {
      checkpoint.readFloat(key, Torch.floatBuffer(target));  // straight into the tensor's storage
      return;
    }
    try (PointerScope perTensor = new PointerScope()) {  // the staging tensor is freed at once
      Tensor staging = Torch.empty(ScalarType.Float, expected);
      checkpoint.readFloat(key, Torch.floatBuffer(staging));
      target.copy_(staging);
    }
  }

  /** Fails naming the keys under the prefix that were not read, except those under {@code ignored}. */
  void requireAllUsed(List<String> ignored) throws FormatException {
    List<String> unknown = new ArrayList<>();
    for (String key : infos.keySet()) {
      if (used.contains(key)) continue;
      boolean skip = false;
      for (String p : ignored) skip |= key.startsWith(p);
      if (!skip) unknown.add(key);
    }
    if (!unknown.isEmpty()) {
      Collections.sort(unknown);
      throw new FormatException("checkpoint has " + unknown.size() + " unknown " + model + " key(s) under \"" + prefix
          + "\": " + String.join(", ", unknown.subList(0, Math.min(5, unknown.size())))
          + (unknown.size() > 5 ? ", ..." : ""));
    }
  }
}
