package ai.viscpm.cli;

import ai.viscpm.Checkpoint;
import ai.viscpm.TensorInfo;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "inspect", mixinStandardHelpOptions = true,
    description = "List every tensor of a checkpoint (.pt/.bin torch zip or .safetensors): name, dtype, shape, "
        + "bytes, then totals per dtype.")
final class InspectCommand implements Callable<Integer> {
  @Parameters(paramLabel = "FILE", description = "checkpoint file")
  Path file;

  @Option(names = "--totals-only", description = "print only the totals")
  boolean totalsOnly;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    try (Checkpoint checkpoint = Checkpoint.open(file)) {
      Map<String, long[]> byDtype = new TreeMap<>();
      long params = 0;
      for (TensorInfo t : checkpoint.tensors()) {
        if (!totalsOnly) {
          out.printf("%-70s %-9s %-22s %,15d%n", t.name(), t.dtype(), t.shapeString(), t.bytes());
        }
        long[] agg = byDtype.computeIfAbsent(t.dtype(), k -> new long[3]);
        agg[0]++;
        agg[1] += t.numel();
        agg[2] += t.bytes();
        params += t.numel();
      }
      out.printf("%s: %s, %,d tensors, %,d elements, %,d bytes%n", file, checkpoint.format(),
          checkpoint.tensors().size(), params, checkpoint.totalBytes());
      for (Map.Entry<String, long[]> e : byDtype.entrySet()) {
        out.printf("  %-9s %,8d tensors %,16d elements %,18d bytes%n", e.getKey(), e.getValue()[0],
            e.getValue()[1], e.getValue()[2]);
      }
    }
    return 0;
  }
}
