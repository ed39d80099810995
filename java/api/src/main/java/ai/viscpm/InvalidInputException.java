package ai.viscpm;

/** Input the runtime cannot accept: text, image, shape or option value. The message says what to change. */
public class InvalidInputException extends VisCpmException {
  private static final long serialVersionUID = 1L;

  public InvalidInputException(String message) {
    super(ErrorCode.INVALID_ARGUMENT, message);
  }
}
