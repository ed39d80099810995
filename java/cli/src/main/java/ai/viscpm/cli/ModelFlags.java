package ai.viscpm.cli;

import ai.viscpm.DType;
import ai.viscpm.Device;
import ai.viscpm.ModelOptions;
import ai.viscpm.VisCpm;
import ai.viscpm.VisCpmException;
import picocli.CommandLine.Option;

/** Device, precision and threads, shared by the model commands. */
final class ModelFlags {
  @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda, cuda:N or auto (CUDA when usable, else the CPU; default: ${DEFAULT-VALUE})")
  String device;

  @Option(names = "--dtype", defaultValue = "auto",
      description = "auto (float32 on CPU, float16 on CUDA; int8 for a quantized model), float32, bfloat16, float16, "
          + "int8 (CPM-Bee's matrices as int8 rows, quantized at load) (default: ${DEFAULT-VALUE})")
  String dtype;

  @Option(names = "--threads", defaultValue = "0",
      description = "CPU threads of the runtime, 0 = LibTorch's default (default); clamped to the logical CPUs")
  int threads;

  @Option(names = "--no-verify-checksums", negatable = false,
      description = "skip the CRC-32 check of the checkpoint records (faster loading of trusted files)")
  boolean skipChecksums;

  /** The model options; also sets the runtime's thread count (threads belong to the process). */
  ModelOptions options() throws VisCpmException {
    return builder().build();
  }

  /** The options of these flags as a builder, for commands that add their own; sets the threads too. */
  ModelOptions.Builder builder() throws VisCpmException {
    VisCpm.setThreads(threads);
    ModelOptions.Builder b = ModelOptions.builder().dtype(DType.parse(dtype)).verifyChecksums(!skipChecksums);
    device(b, device);
    return b;
  }

  /** "cpu", "cuda", "cuda:N" or "auto" into the builder; IllegalArgumentException naming the forms otherwise. */
  static void device(ModelOptions.Builder b, String text) {
    String d = text.toLowerCase(java.util.Locale.ROOT);
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("cuda(?::(\\d{1,4}))?").matcher(d);
    if (m.matches()) {
      b.device(Device.CUDA);
      if (m.group(1) != null) b.cudaIndex(Integer.parseInt(m.group(1)));
    } else if (d.equals("cpu")) {
      b.device(Device.CPU);
    } else if (d.equals("auto")) {
      b.device(Device.AUTO);
    } else {
      throw new IllegalArgumentException("bad device '" + text + "' (use cpu, cuda, cuda:N or auto)");
    }
  }
}
