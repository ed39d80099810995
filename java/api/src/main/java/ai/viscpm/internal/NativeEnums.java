package ai.viscpm.internal;

import ai.viscpm.VisCpmException;
import ai.viscpm.internal.jni.global.viscpm;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;

/**
 * Java enums -> the C API's enum values, matched by name through the native parsers: the
 * native side is the one place where names and values meet, so no ordinal is ever trusted.
 */
public final class NativeEnums {
  private NativeEnums() {}

  /** A parser of the C API: name in, status out, value through the pointer. */
  @FunctionalInterface
  interface Parser {
    int parse(BytePointer name, IntPointer out);
  }

  private static int parse(Parser parser, String name) throws VisCpmException {
    NativeLibrary.load();
    try (BytePointer n = NativeLibrary.utf8(name); IntPointer out = new IntPointer(1)) {
      NativeLibrary.check(parser.parse(n, out));
      return out.get();
    }
  }

  private static String lower(Enum<?> e) {
    return e.name().toLowerCase(Locale.ROOT);
  }

  public static int dtype(ai.viscpm.DType dtype) throws VisCpmException {
    return parse(viscpm::viscpm_dtype_parse, lower(dtype));
  }

  public static int pixelFormat(ai.viscpm.PixelFormat format) throws VisCpmException {
    return parse(viscpm::viscpm_pixel_format_parse, lower(format));
  }

  public static int decoding(ai.viscpm.chat.GenerationConfig.Decoding decoding) throws VisCpmException {
    return parse(viscpm::viscpm_decoding_parse, lower(decoding));
  }

  /** A scheduler name or alias ("ddim", "DDIMScheduler", "euler_a", ...). */
  public static int scheduler(String name) throws VisCpmException {
    return parse(viscpm::viscpm_scheduler_parse, name);
  }

  /** The canonical scheduler names, in the C API's enum order. */
  public static List<String> schedulerNames() {
    NativeLibrary.load();
    List<String> names = new ArrayList<>();
    for (int i = 0; i < viscpm.VISCPM_SCHEDULER_COUNT; i++) names.add(NativeLibrary.string(viscpm.viscpm_scheduler_name(i)));
    return names;
  }
}
