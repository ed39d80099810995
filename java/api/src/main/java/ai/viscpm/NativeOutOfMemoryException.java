package ai.viscpm;

/** The native side could not allocate memory (host or device). */
public class NativeOutOfMemoryException extends VisCpmException {
  private static final long serialVersionUID = 1L;

  public NativeOutOfMemoryException(String message) {
    super(ErrorCode.OUT_OF_MEMORY, message);
  }
}
