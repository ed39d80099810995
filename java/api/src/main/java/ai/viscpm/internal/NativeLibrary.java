package ai.viscpm.internal;

import ai.viscpm.VisCpmException;
import ai.viscpm.internal.jni.global.viscpm;
import java.nio.charset.StandardCharsets;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;

/**
 * Loads the native runtime in the right order (bytedeco's LibTorch, OpenBLAS and OpenCV first, then
 * libviscpm and its JNI wrapper) and turns native statuses into typed exceptions. Internal:
 * nothing of JavaCPP leaves the {@code ai.viscpm.internal} packages.
 */
public final class NativeLibrary {
  private static volatile boolean loaded;

  private NativeLibrary() {}

  /** Idempotent; every class that touches {@link viscpm} calls this first. */
  public static void load() {
    if (loaded) return;
    synchronized (NativeLibrary.class) {
      if (loaded) return;
      // libviscpm.so links against libtorch_cpu.so/libc10.so by soname: load bytedeco's first.
      extractLibTorchFirst();
      Loader.load(org.bytedeco.pytorch.presets.torch.class);
      // Likewise libopencv_{core,imgproc,imgcodecs}.so.413 for image decoding.
      Loader.load(org.bytedeco.opencv.global.opencv_imgcodecs.class);
      Loader.load(viscpm.class);
      loaded = true;
    }
  }

  /**
   * On a cold JavaCPP cache, bytedeco's Loader extracts and loads libtorch.so before
   * libtorch_cpu.so is extracted beside it, so the dynamic linker looks for libtorch_cpu.so
   * on the system path; a system LibTorch of another version there (e.g. Debian's
   * libtorch1.13) then gets mapped into the JVM and crashes it. Extracting the libraries
   * first lets $ORIGIN find bytedeco's own.
   */
  private static void extractLibTorchFirst() {
    String dir = "/org/bytedeco/pytorch/" + Loader.getPlatform() + "/";
    for (String lib : new String[] {"libc10.so", "libtorch_cpu.so", "libtorch.so"}) {
      try {
        Loader.cacheResource(org.bytedeco.pytorch.presets.torch.class, dir + lib);
      } catch (java.io.IOException | RuntimeException e) {
        // Not packaged this way on this platform: leave it to the Loader.
      }
    }
  }

  /**
   * Makes the calling thread use the process-wide intra-op thread count. LibTorch reads that
   * count into a per-thread setting when a thread first runs an op, so a thread that ran before
   * {@code VisCpm.setThreads} (a pooled request or task thread) would keep the old count.
   * Re-reading it costs about 0.1 us, so every entry that computes calls this.
   */
  public static void adoptProcessThreadCount() {
    org.bytedeco.pytorch.global.torch.init_num_threads();
  }

  /** Throws the typed exception for a failed status, with this thread's native message. */
  public static void check(int status) throws VisCpmException {
    if (status == viscpm.VISCPM_OK) return;
    throw VisCpmException.of(ErrorCodes.fromStatus(status), lastError());
  }

  public static String lastError() {
    BytePointer message = viscpm.viscpm_last_error();
    return message == null || message.isNull() ? "" : message.getString(StandardCharsets.UTF_8);
  }

  /** UTF-8 bytes for the native side (JavaCPP's own String conversion is not UTF-8 safe). */
  public static BytePointer utf8(String s) {
    return new BytePointer(s, StandardCharsets.UTF_8);
  }

  public static String string(BytePointer p) {
    return p == null || p.isNull() ? "" : p.getString(StandardCharsets.UTF_8);
  }

  /** A UTF-8 string of known length (it may contain NUL). */
  public static String string(BytePointer p, long bytes) {
    if (p == null || p.isNull() || bytes <= 0) return "";
    byte[] data = new byte[Math.toIntExact(bytes)];
    p.position(0).capacity(bytes).get(data);
    return new String(data, StandardCharsets.UTF_8);
  }
}
