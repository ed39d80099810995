package ai.viscpm.bench.ffm;

import ai.viscpm.internal.NativeLibrary;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Three C API calls bound through java.lang.foreign: {@code viscpm_get_num_threads},
 * {@code viscpm_version} and {@code viscpm_buffer_probe}. The library itself is loaded by the
 * project's loader (JavaCPP, which brings bytedeco's LibTorch first; libviscpm.so links to it
 * by soname); its symbols are then found by name in the process ({@code dlopen} of the soname
 * returns the already loaded library).
 */
public final class Ffm {
  private static final Linker LINKER = Linker.nativeLinker();
  private static final SymbolLookup LOOKUP;

  static {
    NativeLibrary.load();
    SymbolLookup loader = SymbolLookup.loaderLookup();
    LOOKUP = loader.find("viscpm_get_num_threads").isPresent() ? loader
        : SymbolLookup.libraryLookup("libviscpm.so", Arena.global());
  }

  /** int viscpm_get_num_threads(void) */
  public static final MethodHandle GET_NUM_THREADS = downcall("viscpm_get_num_threads",
      FunctionDescriptor.of(ValueLayout.JAVA_INT));
  /** The same with Linker.Option.critical(false): no thread-state transition. */
  public static final MethodHandle GET_NUM_THREADS_CRITICAL = downcall("viscpm_get_num_threads",
      FunctionDescriptor.of(ValueLayout.JAVA_INT), Linker.Option.critical(false));
  /** const char* viscpm_version(void) */
  public static final MethodHandle VERSION = downcall("viscpm_version", FunctionDescriptor.of(ValueLayout.ADDRESS));
  /** viscpm_status viscpm_buffer_probe(const void* data, int64_t size, uint64_t* address_out, int64_t* byte_sum_out) */
  private static final FunctionDescriptor PROBE = FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
      ValueLayout.JAVA_LONG, ValueLayout.ADDRESS, ValueLayout.ADDRESS);
  public static final MethodHandle BUFFER_PROBE = downcall("viscpm_buffer_probe", PROBE);
  /** critical(true): heap segments (a byte[]) may be passed; the call sees the array in place, no copy. */
  public static final MethodHandle BUFFER_PROBE_HEAP = downcall("viscpm_buffer_probe", PROBE,
      Linker.Option.critical(true));

  private Ffm() {}

  static MethodHandle downcallPublic(String name, FunctionDescriptor d, Linker.Option... options) {
    return downcall(name, d, options);
  }

  private static MethodHandle downcall(String name, FunctionDescriptor d, Linker.Option... options) {
    MemorySegment symbol = LOOKUP.find(name).orElseThrow(() -> new UnsatisfiedLinkError(name));
    return LINKER.downcallHandle(symbol, d, options);
  }

  public static String version() throws Throwable {
    MemorySegment p = (MemorySegment) VERSION.invokeExact();
    return p.reinterpret(256).getString(0);
  }
}
