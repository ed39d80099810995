package ai.viscpm.bench;

import ai.viscpm.VisCpm;
import ai.viscpm.internal.jni.global.viscpm;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * One crossing into native code that does (almost) nothing: {@code viscpm_get_num_threads}
 * (returns an int LibTorch holds) through the JavaCPP presets, the same through the public API
 * ({@code VisCpm.threads()}: an init check and the per-thread thread-count adoption, then the
 * call), and LibTorch's {@code at::get_num_threads} through bytedeco's
 * {@code org.bytedeco.pytorch.global.torch}, the crossing every op of the JVM engine pays. A
 * plain Java call returning a field is the floor.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Thread)
public class CrossingBench {
  private int field = 1;

  @Setup
  public void setup() throws Exception {
    Env.init();
  }

  @Benchmark
  public int javaFieldRead() {
    return field;
  }

  @Benchmark
  public int nativeJavacppGetNumThreads() {
    return viscpm.viscpm_get_num_threads();
  }

  @Benchmark
  public int nativePublicApiThreads() {
    return VisCpm.threads();
  }

  @Benchmark
  public int jvmEngineTorchGetNumThreads() {
    return org.bytedeco.pytorch.global.torch.get_num_threads();
  }
}
