package ai.viscpm;

import ai.viscpm.internal.NativeLibrary;
import ai.viscpm.internal.NativeObject;
import ai.viscpm.internal.jni.global.viscpm;
import ai.viscpm.internal.jni.viscpm_checkpoint;
import ai.viscpm.internal.jni.viscpm_tensor_info;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * A weight file opened lazily: a {@code torch.save} zip checkpoint (.pt/.bin, including
 * ZIP64 files of tens of GB) or a safetensors file. Opening parses only the index; tensor
 * data is read one tensor at a time on request.
 */
public final class Checkpoint extends NativeObject {
  private final viscpm_checkpoint handle;
  private final String format;
  private final List<TensorInfo> tensors;

  private Checkpoint(viscpm_checkpoint handle, List<TensorInfo> tensors) {
    this.handle = handle;
    this.format = NativeLibrary.string(viscpm.viscpm_checkpoint_format(handle));
    this.tensors = tensors;
  }

  private static List<TensorInfo> index(viscpm_checkpoint handle) throws VisCpmException {
    long count = viscpm.viscpm_checkpoint_count(handle);
    List<TensorInfo> list = new ArrayList<>((int) count);
    try (viscpm_tensor_info info = new viscpm_tensor_info()) {
      for (long i = 0; i < count; i++) {
        NativeLibrary.check(viscpm.viscpm_checkpoint_info(handle, i, info));
        long[] shape = new long[info.ndim()];
        for (int d = 0; d < shape.length; d++) shape[d] = info.shape(d);
        list.add(new TensorInfo(NativeLibrary.string(info.name()), NativeLibrary.string(info.dtype()), shape,
            info.nbytes(), info.contiguous() != 0));
      }
    }
    return Collections.unmodifiableList(list);
  }

  /**
   * Opens a checkpoint.
   *
   * @throws ResourceNotFoundException if the file does not exist
   * @throws FormatException if it is not a valid checkpoint (the message says what is wrong)
   */
  public static Checkpoint open(Path path) throws VisCpmException {
    NativeLibrary.require();
    viscpm_checkpoint handle = new viscpm_checkpoint();
    try (BytePointer p = NativeLibrary.utf8(path.toString())) {
      NativeLibrary.check(viscpm.viscpm_checkpoint_open(p, handle));
    }
    try {
      return new Checkpoint(handle, index(handle));
    } catch (VisCpmException | RuntimeException | Error e) {  // nobody else owns the handle yet
      viscpm.viscpm_checkpoint_free(handle);
      throw e;
    }
  }

  /** "torch-zip" or "safetensors". */
  public String format() {
    return format;
  }

  /** Every tensor in file order. */
  public List<TensorInfo> tensors() {
    return tensors;
  }

  public long totalBytes() {
    return tensors.stream().mapToLong(TensorInfo::bytes).sum();
  }

  /**
   * Reads one tensor converted to float32 into a direct buffer, in place (no intermediate
   * Java copy). The buffer must have at least numel elements remaining.
   */
  public void readFloat(String name, FloatBuffer destination) throws VisCpmException {
    if (!destination.isDirect()) throw new InvalidInputException("destination must be a direct FloatBuffer");
    try (Use use = use(); BytePointer key = NativeLibrary.utf8(name);
        FloatPointer dst = new FloatPointer(destination)) {
      NativeLibrary.check(viscpm.viscpm_checkpoint_read_f32(handle, key, dst, destination.remaining()));
    }
  }

  @Override
  protected void release() {
    viscpm.viscpm_checkpoint_free(handle);
    handle.setNull();
  }
}
