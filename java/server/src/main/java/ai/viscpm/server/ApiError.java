package ai.viscpm.server;

/** A request that ends with an OpenAI-shaped error: {"error": {message, type, param, code}}. */
final class ApiError extends Exception {
  final int status;
  final String type;
  final String param;
  final String code;

  ApiError(int status, String type, String code, String param, String message) {
    super(message);
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = param;
  }

  static ApiError badRequest(String param, String message) {
    return new ApiError(400, "invalid_request_error", "invalid_value", param, message);
  }

  static ApiError notFound(String code, String message) {
    return new ApiError(404, "invalid_request_error", code, null, message);
  }
}
