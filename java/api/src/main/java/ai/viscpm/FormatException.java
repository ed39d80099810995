package ai.viscpm;

/** A file is not what it claims to be: corrupt, truncated, or with missing keys or wrong shapes. The message names the file and the problem. */
public class FormatException extends VisCpmException {
  private static final long serialVersionUID = 1L;

  public FormatException(String message) {
    super(ErrorCode.FORMAT_ERROR, message);
  }
}
