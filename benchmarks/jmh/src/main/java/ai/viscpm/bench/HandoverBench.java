package ai.viscpm.bench;

import ai.viscpm.BufferProbe;
import ai.viscpm.VisCpm;
import ai.viscpm.internal.jni.global.viscpm;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.BytePointer;
import org.openjdk.jmh.annotations.*;

/**
 * Image hand-over: RGB pixels of a {@code side x side} image given to the native side, which
 * reads them in place ({@code viscpm_buffer_probe}: reports the address it saw and sums the
 * bytes with a LibTorch op over that memory, the same work in every variant).
 *
 * <ul>
 *   <li>{@code directBuffer}: a direct {@code ByteBuffer} through {@code VisCpm.probe}: no copy;
 *       the setup checks that the address the native side saw is the buffer's own address.</li>
 *   <li>{@code heapCopyToDirect}: the pixels in a heap {@code byte[]}, copied into a
 *       preallocated direct buffer first (what a caller holding heap arrays has to do).</li>
 *   <li>{@code heapJavacppBytePointer}: the heap array through JavaCPP's {@code new
 *       BytePointer(byte[])}: native malloc, copy, free per call.</li>
 * </ul>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Thread)
public class HandoverBench {
  @Param({"224", "1024"})
  public int side;

  private ByteBuffer direct, staging;
  private byte[] heap;
  private final long[] address = new long[1], sum = new long[1];

  @Setup
  public void setup() throws Exception {
    Env.init();
    int n = side * side * 3;
    heap = new byte[n];
    new java.util.Random(1).nextBytes(heap);
    direct = ByteBuffer.allocateDirect(n);
    direct.put(heap).flip();
    staging = ByteBuffer.allocateDirect(n);
    BufferProbe p = VisCpm.probe(direct);
    long own = new BytePointer(direct).address();
    if (p.address() != own) throw new IllegalStateException("the direct buffer was copied: " + p.address() + " != " + own);
    System.out.printf("[handover] side %d: direct buffer at 0x%x, native side saw 0x%x (same: zero copy); byte sum %d%n",
        side, own, p.address(), p.byteSum());
  }

  @Benchmark
  public long directBuffer() throws Exception {
    return VisCpm.probe(direct).byteSum();
  }

  @Benchmark
  public long heapCopyToDirect() throws Exception {
    staging.clear();
    staging.put(heap).flip();
    return VisCpm.probe(staging).byteSum();
  }

  @Benchmark
  public long heapJavacppBytePointer() {
    try (BytePointer p = new BytePointer(heap)) {
      int status = viscpm.viscpm_buffer_probe(p, heap.length, address, sum);
      if (status != 0) throw new IllegalStateException("status " + status);
      return sum[0];
    }
  }
}
