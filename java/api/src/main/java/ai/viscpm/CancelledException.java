package ai.viscpm;

/** A listener cancelled the operation. */
public class CancelledException extends VisCpmException {
  private static final long serialVersionUID = 1L;

  public CancelledException(String message) {
    super(ErrorCode.CANCELLED, message);
  }
}
