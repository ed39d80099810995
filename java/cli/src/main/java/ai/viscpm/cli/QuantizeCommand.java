package ai.viscpm.cli;

import ai.viscpm.DType;
import ai.viscpm.Quantization;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "quantize", mixinStandardHelpOptions = true,
    description = "Write a copy of a VisCPM-Chat or VisCPM-Paint model directory whose CPM-Bee weight matrices are "
        + "int8 rows with a float32 scale each (<checkpoint>.int8.safetensors; the other files as they are). It loads "
        + "with --dtype int8 or auto and quantizes nothing.")
final class QuantizeCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "model directory (see models/README.md)")
  Path model;

  @Option(names = "--out", required = true, description = "output directory (new or empty, outside --model)")
  Path out;

  @Option(names = "--to", defaultValue = "int8", description = "target format: int8 (default: ${DEFAULT-VALUE})")
  String to;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter err = spec.commandLine().getErr();
    long start = System.nanoTime();
    int[] lastPercent = {-1};
    Quantization.Result result = Quantization.quantize(model, out, DType.parse(to), (done, total) -> {
      int percent = total == 0 ? 100 : (int) (100L * done / total);
      if (percent / 10 != lastPercent[0] / 10) {
        err.printf("quantize: %d%% (%d of %d tensors)%n", percent, done, total);
        err.flush();
      }
      lastPercent[0] = percent;
      return true;
    });
    PrintWriter stdout = spec.commandLine().getOut();
    stdout.printf("%s: tensor bytes %,d -> %,d (%.2fx smaller) in %.1f s%n", result.directory(), result.bytesBefore(),
        result.bytesAfter(), result.bytesBefore() / (double) Math.max(1, result.bytesAfter()),
        (System.nanoTime() - start) / 1e9);
    return 0;
  }
}
