package ai.viscpm;

import ai.viscpm.internal.NativeLibrary;
import ai.viscpm.internal.jni.global.viscpm;
import java.nio.ByteBuffer;
import org.bytedeco.javacpp.BytePointer;

/**
 * Entry point of the runtime: versions, device availability and CPU threads. Models and
 * checkpoints are opened through their own classes ({@link Checkpoint}, ...).
 */
public final class VisCpm {
  private VisCpm() {}

  /**
   * Loads the native libraries now (otherwise done on first use).
   *
   * @throws UnsatisfiedLinkError if they cannot be loaded here; the message says why and what
   *     to do (the loading entries that declare VisCpmException throw
   *     {@link NativeLibraryException} instead)
   */
  public static void init() {
    NativeLibrary.load();
  }

  public static String version() {
    init();
    return NativeLibrary.string(viscpm.viscpm_version());
  }

  /** The LibTorch release the native library runs on. */
  public static String torchVersion() {
    init();
    return NativeLibrary.string(viscpm.viscpm_torch_version());
  }

  public static boolean cudaAvailable() {
    init();
    return viscpm.viscpm_cuda_available() != 0;
  }

  /**
   * CPU threads of the runtime every model in the process shares (LibTorch's intra-op pool).
   * 0 restores LibTorch's default; counts above {@link #hardwareThreads()} are clamped to it.
   * The count reaches every thread, those that ran models before included, at its next call.
   * Results can differ in the last bits between counts (float sums in another order): painted
   * pixels do, so compare paintings made at the same count.
   *
   * @return the count now in effect
   * @throws InvalidInputException for a negative count
   */
  public static int setThreads(int threads) throws VisCpmException {
    NativeLibrary.require();
    NativeLibrary.adoptProcessThreadCount();  // compare with the process's count, not a stale one of this thread
    NativeLibrary.check(viscpm.viscpm_set_num_threads(threads));
    return threads();
  }

  public static int threads() {
    init();
    NativeLibrary.adoptProcessThreadCount();
    return viscpm.viscpm_get_num_threads();
  }

  /** Logical CPUs of this machine. */
  public static int hardwareThreads() {
    init();
    return viscpm.viscpm_hardware_threads();
  }

  /** Fails fast when a device cannot be used by this build on this machine. */
  public static void requireDevice(Device device) throws VisCpmException {
    if (device == Device.CUDA && !cudaAvailable()) {
      throw new UnsupportedFeatureException("CUDA requested but no CUDA device is usable by this build");
    }
  }

  /**
   * Passes a direct buffer to the native side without copying and reports what it saw.
   * A diagnostic for embedders checking the zero-copy path of their own buffers.
   */
  public static BufferProbe probe(ByteBuffer buffer) throws VisCpmException {
    init();
    if (!buffer.isDirect()) throw new InvalidInputException("only direct buffers cross without a copy");
    BytePointer view = new BytePointer(buffer);  // the buffer's memory from its position, no copy
    long[] address = new long[1];
    long[] sum = new long[1];
    NativeLibrary.check(viscpm.viscpm_buffer_probe(view, buffer.remaining(), address, sum));
    return new BufferProbe(address[0], sum[0]);
  }
}
