package ai.viscpm;

/**
 * Which implementation runs a model ({@link ModelOptions.Builder#engine}).
 *
 * <ul>
 *   <li>{@link #NATIVE} (default): the C++ runtime behind the C API (libviscpm).
 *   <li>{@link #JVM}: the models written in Java on bytedeco's {@code org.bytedeco.pytorch}, for
 *       comparing the native and the JVM code paths over the same files and the same API. It needs
 *       the artifact {@code ai.viscpm:viscpm-engine-jvm} on the class path; it runs float32 on the
 *       CPU (other options are refused with an {@link UnsupportedFeatureException}).
 * </ul>
 */
public enum Engine {
  NATIVE,
  JVM;

  public static Engine parse(String name) {
    for (Engine e : values()) {
      if (e.name().equalsIgnoreCase(name)) return e;
    }
    throw new IllegalArgumentException("unknown engine '" + name + "' (use native or jvm)");
  }
}
