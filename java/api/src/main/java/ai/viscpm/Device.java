package ai.viscpm;

/** Where models run. */
public enum Device {
  CPU("cpu"),
  CUDA("cuda"),
  /**
   * CUDA when the loaded native library and LibTorch have it and a GPU answers, else the CPU
   * with one warning line on stderr (a CPU-only jar, no driver, no device).
   */
  AUTO("auto");

  private final String nativeName;

  Device(String nativeName) {
    this.nativeName = nativeName;
  }

  public String nativeName() {
    return nativeName;
  }

  public static Device parse(String name) {
    for (Device d : values()) {
      if (d.nativeName.equalsIgnoreCase(name) || d.name().equalsIgnoreCase(name)) return d;
    }
    throw new IllegalArgumentException("unknown device '" + name + "' (use cpu, cuda or auto)");
  }
}
