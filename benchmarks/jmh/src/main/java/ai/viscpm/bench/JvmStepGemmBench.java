package ai.viscpm.bench;

import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.openjdk.jmh.annotations.*;

/**
 * Diagnostic for the decode-step row (JVM side only; the native engine's kernels are not
 * reachable from Java): the matrix products of one mid-size CPM-Bee decode step, 3 rows, as the
 * JVM engine issues them, {@code torch.linear} (at::linear, OpenBLAS sgemm) on the fused q/k/v
 * [3072, 1024], attention_out [1024, 1024], fused w_0/w_1 [5120, 1024] and w_out [1024, 2560]
 * of 12 layers (12 distinct weight sets: 600 MB, so every step streams them from memory as a
 * real step does) and the tied output projection [86583, 1024]. Nothing else: if this is most
 * of the JVM step, the step is GEMM-bound and the native engine's difference is its
 * small-batch kernel ({@code kernels/cpu/small_batch_gemm.h}), not the Java around the ops.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class JvmStepGemmBench {
  static final int ROWS = 3, LAYERS = MidChatModel.LAYERS, D = MidChatModel.DIM, F = MidChatModel.FF;

  private Tensor x, xf, embedding;
  private Tensor[] qkv, out, ffnIn, ffnOut;

  @Setup(Level.Trial)
  public void setup() throws Exception {
    Env.init();
    x = torch.rand(new long[] {ROWS, D}, new org.bytedeco.pytorch.DimnameListOptional()).retainReference();
    xf = torch.rand(new long[] {ROWS, F}, new org.bytedeco.pytorch.DimnameListOptional()).retainReference();
    embedding = weight(MidChatModel.VOCAB, D);
    qkv = new Tensor[LAYERS];
    out = new Tensor[LAYERS];
    ffnIn = new Tensor[LAYERS];
    ffnOut = new Tensor[LAYERS];
    for (int i = 0; i < LAYERS; i++) {
      qkv[i] = weight(3 * D, D);
      out[i] = weight(D, D);
      ffnIn[i] = weight(2 * F, D);
      ffnOut[i] = weight(D, F);
    }
  }

  /** Uniform in [-0.025, 0.025), as the mid checkpoint's matrices (values near zero, centred). */
  private static Tensor weight(long rows, long cols) {
    Tensor w = torch.rand(new long[] {rows, cols}, new org.bytedeco.pytorch.DimnameListOptional()).retainReference();
    try (org.bytedeco.pytorch.Scalar half = new org.bytedeco.pytorch.Scalar(0.5);
        org.bytedeco.pytorch.Scalar scale = new org.bytedeco.pytorch.Scalar(0.05)) {
      w.sub_(half).mul_(scale);
    }
    return w;
  }

  @Benchmark
  public long stepGemms() {
    Env.adoptThreads();
    long n = 0;
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      for (int i = 0; i < LAYERS; i++) {
        n += torch.linear(x, qkv[i]).numel();
        n += torch.linear(x, out[i]).numel();
        n += torch.linear(x, ffnIn[i]).numel();
        n += torch.linear(xf, ffnOut[i]).numel();
      }
      n += torch.linear(x, embedding).numel();
    }
    return n;
  }

  @Benchmark
  public long outputProjectionOnly() {
    Env.adoptThreads();
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      return torch.linear(x, embedding).numel();
    }
  }
}
