package ai.viscpm;

/** The native runtime failed for a reason that is not the caller's input (I/O, internal error). */
public class NativeFailureException extends VisCpmException {
  private static final long serialVersionUID = 1L;

  public NativeFailureException(ErrorCode code, String message) {
    super(code, message);
  }
}
