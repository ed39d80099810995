package ai.viscpm.cli;

import ai.viscpm.DType;
import ai.viscpm.Device;
import ai.viscpm.ModelOptions;
import ai.viscpm.VisCpm;
import ai.viscpm.VisCpmException;
import picocli.CommandLine.Option;

/** Device, precision and threads, shared by the model commands. */
final class ModelFlags {
  @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N (default: ${DEFAULT-VALUE})")
  String device;

  @Option(names = "--dtype", defaultValue = "auto",
      description = "auto (float32 on CPU, float16 on CUDA), float32, bfloat16, float16 (default: ${DEFAULT-VALUE})")
  String dtype;

  @Option(names = "--threads", defaultValue = "0",
      description = "CPU threads of the runtime, 0 = LibTorch's default (default); clamped to the logical CPUs")
  int threads;

  @Option(names = "--no-verify-checksums", negatable = false,
      description = "skip the CRC-32 check of the checkpoint records (faster loading of trusted files)")
  boolean skipChecksums;

  /** The model options; also sets the runtime's thread count (threads belong to the process). */
  ModelOptions options() throws VisCpmException {
    VisCpm.setThreads(threads);
    String d = device.toLowerCase();
    ModelOptions.Builder b = ModelOptions.builder().dtype(DType.parse(dtype)).verifyChecksums(!skipChecksums);
    if (d.startsWith("cuda")) {
      b.device(Device.CUDA);
      if (d.startsWith("cuda:")) b.cudaIndex(Integer.parseInt(d.substring(5)));
    } else {
      b.device(Device.parse(d));
    }
    return b.build();
  }
}
