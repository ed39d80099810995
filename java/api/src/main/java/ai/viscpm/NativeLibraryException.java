package ai.viscpm;

/**
 * The native runtime (libviscpm, LibTorch, OpenCV and their JNI wrappers) could not be loaded
 * into this JVM: the platform jars are missing from the class loader that holds the API, or
 * another class loader owns the libraries and no private copy could be loaded. The message
 * names the cause and the fix; {@link #getCause()} is the JVM's own {@link LinkageError}.
 */
public class NativeLibraryException extends VisCpmException {
  private static final long serialVersionUID = 1L;

  public NativeLibraryException(String message, Throwable cause) {
    super(ErrorCode.UNSUPPORTED, message, cause);
  }
}
