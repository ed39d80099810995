package ai.viscpm;

/** Where models run. */
public enum Device {
  CPU("cpu"),
  CUDA("cuda");

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
    throw new IllegalArgumentException("unknown device '" + name + "' (use cpu or cuda)");
  }
}
