package ai.viscpm.bench.ffm;

import ai.viscpm.BufferProbe;
import ai.viscpm.VisCpm;
import ai.viscpm.internal.jni.global.viscpm;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.BytePointer;
import org.openjdk.jmh.annotations.*;

/**
 * The image hand-over through java.lang.foreign next to JavaCPP, in the same JVM (a JDK 22+):
 * ({@code viscpm_buffer_probe} over {@code side x side x 3} bytes: the native side reports the
 * address it saw and sums the bytes with a LibTorch op in place).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Thread)
public class FfmHandoverBench {
  @Param({"224", "1024"})
  public int side;

  private byte[] heap;
  private ByteBuffer direct;
  private MemorySegment directSegment, out;
  private Arena arena;
  private final long[] address = new long[1], sum = new long[1];

  @Setup
  public void setup() throws Throwable {
    VisCpm.setThreads(Integer.getInteger("viscpm.bench.threads", 1));
    VisCpm.threads();
    int n = side * side * 3;
    heap = new byte[n];
    new java.util.Random(1).nextBytes(heap);
    direct = ByteBuffer.allocateDirect(n);
    direct.put(heap).flip();
    directSegment = MemorySegment.ofBuffer(direct);
    arena = Arena.ofConfined();
    out = arena.allocate(16, 8);
    int st = (int) Ffm.BUFFER_PROBE.invokeExact(directSegment, (long) n, out, out.asSlice(8));
    long seen = out.get(ValueLayout.JAVA_LONG, 0);
    if (st != 0 || seen != directSegment.address()) throw new IllegalStateException("copied? " + seen);
    BufferProbe jcpp = VisCpm.probe(direct);
    System.out.printf("[ffm] viscpm %s through FFM; side %d: direct buffer at 0x%x, FFM call saw 0x%x, JavaCPP call "
        + "saw 0x%x (same: zero copy); byte sums %d / %d%n", Ffm.version(), side, directSegment.address(), seen,
        jcpp.address(), out.get(ValueLayout.JAVA_LONG, 8), jcpp.byteSum());
  }

  @TearDown
  public void tearDown() {
    arena.close();
  }

  @Benchmark
  public long handoverFfmDirect() throws Throwable {
    int st = (int) Ffm.BUFFER_PROBE.invokeExact(directSegment, directSegment.byteSize(), out, out.asSlice(8));
    return st + out.get(ValueLayout.JAVA_LONG, 8);
  }

  /** The heap array copied into native memory of a confined arena per call (allocate, copy, free). */
  @Benchmark
  public long handoverFfmHeapCopy() throws Throwable {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment s = a.allocate(heap.length);
      MemorySegment.copy(heap, 0, s, ValueLayout.JAVA_BYTE, 0, heap.length);
      int st = (int) Ffm.BUFFER_PROBE.invokeExact(s, (long) heap.length, out, out.asSlice(8));
      return st + out.get(ValueLayout.JAVA_LONG, 8);
    }
  }

  /** The heap array itself, pinned for a critical call: no copy (the GC waits for the call). */
  @Benchmark
  public long handoverFfmHeapCritical() throws Throwable {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment o = a.allocate(16, 8);
      int st = (int) Ffm.BUFFER_PROBE_HEAP.invokeExact(MemorySegment.ofArray(heap), (long) heap.length, o, o.asSlice(8));
      return st + o.get(ValueLayout.JAVA_LONG, 8);
    }
  }

  @Benchmark
  public long handoverJavacppDirect() throws Exception {
    return VisCpm.probe(direct).byteSum();
  }

  @Benchmark
  public long handoverJavacppHeapBytePointer() {
    try (BytePointer p = new BytePointer(heap)) {
      viscpm.viscpm_buffer_probe(p, heap.length, address, sum);
      return sum[0];
    }
  }
}
