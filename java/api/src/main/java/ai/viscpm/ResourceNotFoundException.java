package ai.viscpm;

/** A file or directory the caller named does not exist. */
public class ResourceNotFoundException extends VisCpmException {
  private static final long serialVersionUID = 1L;

  public ResourceNotFoundException(String message) {
    super(ErrorCode.NOT_FOUND, message);
  }
}
