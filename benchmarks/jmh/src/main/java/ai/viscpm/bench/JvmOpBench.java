package ai.viscpm.bench;

import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.openjdk.jmh.annotations.*;

/**
 * What one LibTorch op costs when Java issues it (JVM engine's unit of work): {@code torch.add}
 * on two 1-element float tensors, the result freed at once ({@code close()}), and the same
 * inside a {@code PointerScope} + {@code InferenceMode} as the engine's entry points run. The
 * time is LibTorch's dispatch and kernel plus the JNI crossing and the Java wrapper; the
 * allocation (-prof gc) is the wrapper per op, the figure that divides a JVM row's B/op into an
 * op count.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Thread)
public class JvmOpBench {
  private Tensor a, b;

  @Setup
  public void setup() throws Exception {
    Env.init();
    a = torch.rand(new long[] {1}, new org.bytedeco.pytorch.DimnameListOptional()).retainReference();
    b = torch.rand(new long[] {1}, new org.bytedeco.pytorch.DimnameListOptional()).retainReference();
  }

  @Benchmark
  public long addTinyClosed() {
    Tensor c = torch.add(a, b);
    long n = c.numel();
    c.close();
    return n;
  }

  @Benchmark
  public long addTinyInScope() {
    try (PointerScope scope = new PointerScope(); InferenceMode g = new InferenceMode()) {
      return torch.add(a, b).numel();
    }
  }

  /** Ten ops per scope, as in an engine entry point with many ops: per-op cost is this / 10. */
  @Benchmark
  public long addTinyTenInScope() {
    long n = 0;
    try (PointerScope scope = new PointerScope(); InferenceMode g = new InferenceMode()) {
      for (int i = 0; i < 10; i++) n += torch.add(a, b).numel();
    }
    return n;
  }
}
