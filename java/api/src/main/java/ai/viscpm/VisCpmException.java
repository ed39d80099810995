package ai.viscpm;

/**
 * Every failure of the runtime. Subclasses name the classes of failure a caller may want to
 * handle differently; {@link #code()} gives the native status for the rest.
 */
public class VisCpmException extends Exception {
  private static final long serialVersionUID = 1L;
  private final ErrorCode code;

  public VisCpmException(ErrorCode code, String message) {
    super(message);
    this.code = code;
  }

  public VisCpmException(ErrorCode code, String message, Throwable cause) {
    super(message, cause);
    this.code = code;
  }

  public ErrorCode code() {
    return code;
  }

  /** The typed exception for a native status and message. */
  public static VisCpmException of(ErrorCode code, String message) {
    String text = message == null || message.isEmpty() ? code.name().toLowerCase().replace('_', ' ') : message;
    switch (code) {
      case INVALID_ARGUMENT:
        return new InvalidInputException(text);
      case FORMAT_ERROR:
        return new FormatException(text);
      case NOT_FOUND:
        return new ResourceNotFoundException(text);
      case OUT_OF_MEMORY:
        return new NativeOutOfMemoryException(text);
      case CANCELLED:
        return new CancelledException(text);
      case UNSUPPORTED:
        return new UnsupportedFeatureException(text);
      default:
        return new NativeFailureException(code, text);
    }
  }
}
