package ai.viscpm.internal;

import ai.viscpm.NativeLibraryException;
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
  /** Why the first load failed: the JVM never initialises a class again once its static init failed. */
  private static String failure;

  private NativeLibrary() {}

  /**
   * Idempotent; every class that touches {@link viscpm} calls this first.
   *
   * @throws UnsatisfiedLinkError whose message says why and what to do; every later call fails
   *     with the first failure's message (a later attempt would only see the JVM's "Could not
   *     initialize class")
   */
  public static void load() {
    if (loaded) return;
    synchronized (NativeLibrary.class) {
      if (loaded) return;
      if (failure != null) throw new UnsatisfiedLinkError(failure);
      try {
        // libviscpm.so links against libtorch_cpu.so/libc10.so by soname: load bytedeco's first.
        extractLibTorchFirst();
        Loader.load(org.bytedeco.pytorch.presets.torch.class);
        // Likewise libopencv_{core,imgproc,imgcodecs}.so.413 for image decoding.
        Loader.load(org.bytedeco.opencv.global.opencv_imgcodecs.class);
        Loader.load(viscpm.class);
      } catch (LinkageError e) {
        failure = explain(e);
        UnsatisfiedLinkError explained = new UnsatisfiedLinkError(failure);
        explained.initCause(e);
        throw explained;
      }
      loaded = true;
    }
  }

  /** {@link #load()} for the entries that declare VisCpmException: the same failure, typed. */
  public static void require() throws NativeLibraryException {
    try {
      load();
    } catch (UnsatisfiedLinkError e) {
      throw new NativeLibraryException(e.getMessage(), e.getCause() != null ? e.getCause() : e);
    }
  }

  /** What went wrong, from the JVM's message (JavaCPP passes it through), and the fix. */
  static String explain(LinkageError e) {
    String jvm = String.valueOf(e.getMessage());
    String platform;
    try {
      platform = Loader.getPlatform();
    } catch (LinkageError noJavaCpp) {
      platform = System.getProperty("os.name") + "/" + System.getProperty("os.arch");
    }
    if (jvm.contains("another classloader") || jvm.contains("another class loader")) {
      return "the VisCPM native libraries are already loaded by another class loader of this JVM (JNI lets one "
          + "class loader own a library) and JavaCPP could not load a private copy for this one (" + jvm + "). "
          + "Put viscpm-api, viscpm-presets, javacpp and the bytedeco pytorch, openblas and opencv jars (with their "
          + platform + " jars) in one class loader that the plugins share as their parent; see README.md, "
          + "\"Embedding in other applications\"";
    }
    return "the VisCPM native libraries could not be loaded for " + platform + " (" + jvm + "). The class loader "
        + "that holds viscpm-api must also hold viscpm-presets and the platform jars org.bytedeco:javacpp, pytorch, "
        + "openblas and opencv with classifier " + platform + " (the Maven dependency on ai.viscpm:viscpm-api "
        + "brings them); JavaCPP extracts them to its cache (~/.javacpp/cache, or -Dorg.bytedeco.javacpp.cachedir), "
        + "which must be writable";
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
