package ai.viscpm.bench;

import ai.viscpm.VisCpm;
import ai.viscpm.VisCpmException;
import java.nio.file.Path;

/**
 * What every benchmark shares: the fixtures folder ({@code -Dviscpm.fixtures}, default
 * {@code ../shared/fixtures} from the working directory), the generated models
 * ({@code -Dviscpm.bench.models}, default {@code benchmarks/jmh/target/models}) and the CPU
 * thread count ({@code -Dviscpm.bench.threads}, default 1), set for both engines the same way:
 * the process count through {@code VisCpm.setThreads} and adopted by each benchmark thread
 * (LibTorch reads it per thread; the native API re-reads it at each entry, the JVM engine's
 * ops run on whatever the calling thread holds, hence {@link #adoptThreads()}).
 */
public final class Env {
  private static final ThreadLocal<Boolean> ADOPTED = ThreadLocal.withInitial(() -> false);

  private Env() {}

  public static Path fixtures() {
    return Path.of(System.getProperty("viscpm.fixtures", "../shared/fixtures")).toAbsolutePath().normalize();
  }

  public static Path models() {
    return Path.of(System.getProperty("viscpm.bench.models", "benchmarks/jmh/target/models")).toAbsolutePath()
        .normalize();
  }

  public static int threads() {
    return Integer.getInteger("viscpm.bench.threads", 1);
  }

  /** Sets the process thread count and makes the calling thread use it. */
  public static void init() throws VisCpmException {
    VisCpm.setThreads(threads());
    adoptThreads();
  }

  /** Makes the calling thread's LibTorch pool the process count (once per thread). */
  public static void adoptThreads() {
    if (!ADOPTED.get()) {
      VisCpm.threads();
      org.bytedeco.pytorch.global.torch.set_num_threads(threads());
      ADOPTED.set(true);
    }
  }
}
