package ai.viscpm.bench.ffm;

import ai.viscpm.VisCpm;
import ai.viscpm.internal.jni.global.viscpm;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * The empty crossing, {@code viscpm_get_num_threads}, through java.lang.foreign (plain and
 * {@code Linker.Option.critical(false)}) and through the JavaCPP presets, in the same JVM (a
 * JDK 22+); a Java field read is the floor.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Thread)
public class FfmCrossingBench {
  private int field = 1;

  @Setup
  public void setup() throws Throwable {
    VisCpm.setThreads(Integer.getInteger("viscpm.bench.threads", 1));
    VisCpm.threads();
    System.out.println("[ffm] viscpm " + Ffm.version() + " through FFM");
  }

  @Benchmark
  public int crossingJavaFieldRead() {
    return field;
  }

  @Benchmark
  public int crossingFfm() throws Throwable {
    return (int) Ffm.GET_NUM_THREADS.invokeExact();
  }

  @Benchmark
  public int crossingFfmCritical() throws Throwable {
    return (int) Ffm.GET_NUM_THREADS_CRITICAL.invokeExact();
  }

  @Benchmark
  public int crossingJavacpp() {
    return viscpm.viscpm_get_num_threads();
  }
}
