package ai.viscpm;

/** Interleaved 8-bit pixel layouts read in place from a caller's buffer. */
public enum PixelFormat {
  RGB(3),
  RGBA(4),
  BGR(3),
  BGRA(4);

  private final int channels;

  PixelFormat(int channels) {
    this.channels = channels;
  }

  public int channels() {
    return channels;
  }
}
