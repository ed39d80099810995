package ai.viscpm;

/** Why a native call failed; mirrors {@code viscpm_status} of the C API. */
public enum ErrorCode {
  OK,
  INVALID_ARGUMENT,
  FORMAT_ERROR,
  NOT_FOUND,
  OUT_OF_MEMORY,
  CANCELLED,
  UNSUPPORTED,
  IO_ERROR,
  INTERNAL,
  /** A status this Java build does not know (a newer native library). */
  UNKNOWN;

}
