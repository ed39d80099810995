package ai.viscpm.internal;

import ai.viscpm.ErrorCode;

/** Maps native status integers to {@link ErrorCode} (same order as the C enum). */
public final class ErrorCodes {
  private ErrorCodes() {}

  public static ErrorCode fromStatus(int status) {
    ErrorCode[] all = ErrorCode.values();
    return status >= 0 && status < all.length - 1 ? all[status] : ErrorCode.UNKNOWN;
  }
}
