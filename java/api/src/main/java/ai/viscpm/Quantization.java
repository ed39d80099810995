package ai.viscpm;

import ai.viscpm.internal.Callbacks;
import ai.viscpm.internal.NativeEnums;
import ai.viscpm.internal.NativeLibrary;
import ai.viscpm.internal.jni.global.viscpm;
import java.nio.file.Path;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.LongPointer;

/**
 * Writes a copy of a model directory whose CPM-Bee matrices are stored as int8, so that it loads
 * (with {@link DType#INT8} or {@link DType#AUTO}) without quantizing and reads half the bytes of
 * a float16 checkpoint. The other files and tensors are copied as they are.
 */
public final class Quantization {
  private Quantization() {}

  /** Told after each tensor; return false to cancel. */
  @FunctionalInterface
  public interface Progress {
    boolean onTensor(int done, int total);
  }

  /** What a quantization wrote. */
  public record Result(Path directory, long bytesBefore, long bytesAfter) {}

  /** {@link #quantize(Path, Path, DType, Progress)} without progress. */
  public static Result quantize(Path modelDir, Path outDir, DType to) throws VisCpmException {
    return quantize(modelDir, outDir, to, null);
  }

  /**
   * Quantizes the VisCPM-Chat or VisCPM-Paint directory {@code modelDir} into {@code outDir}
   * (created; it must be new or empty and outside {@code modelDir}); the checkpoint is written as
   * {@code <stem>.int8.safetensors}.
   *
   * @param to only {@link DType#INT8}
   * @throws InvalidInputException for another target, an output directory in use or inside the model's
   * @throws FormatException when the checkpoint does not match cpm-bee.json or is quantized already
   * @throws CancelledException when {@code progress} returned false (no checkpoint is left behind)
   */
  public static Result quantize(Path modelDir, Path outDir, DType to, Progress progress) throws VisCpmException {
    NativeLibrary.require();
    if (to != DType.INT8) throw new InvalidInputException("quantize: the only target is int8, not " + to);
    try (BytePointer in = NativeLibrary.utf8(modelDir.toString());
        BytePointer out = NativeLibrary.utf8(outDir.toString());
        Callbacks.Registration reg = Callbacks.progress((done, total) ->
            progress == null || progress.onTensor(done, total) ? 0 : 1);
        LongPointer before = new LongPointer(1);
        LongPointer after = new LongPointer(1)) {
      int status = viscpm.viscpm_quantize_model(in, out, NativeEnums.dtype(to), Callbacks.progressThunk(), reg.userData,
          before, after);
      if (reg.failure != null) throw reg.failure;
      NativeLibrary.check(status);
      return new Result(outDir, before.get(), after.get());
    }
  }
}
