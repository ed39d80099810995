package ai.viscpm;

/** A valid request this build does not support (device, dtype, legacy format). */
public class UnsupportedFeatureException extends VisCpmException {
  private static final long serialVersionUID = 1L;

  public UnsupportedFeatureException(String message) {
    super(ErrorCode.UNSUPPORTED, message);
  }
}
