package ai.viscpm.server;

import com.fasterxml.jackson.databind.JsonNode;

/** Typed request fields: absent or null is "not given", a wrong type or range is a 400 naming the field. */
final class Fields {
  private Fields() {}

  static boolean given(JsonNode body, String field) {
    JsonNode n = body.get(field);
    return n != null && !n.isNull();
  }

  static String string(JsonNode body, String field, String param) throws ApiError {
    JsonNode n = body.get(field);
    if (n == null || n.isNull()) return null;
    if (!n.isTextual()) throw ApiError.badRequest(param, "'" + param + "' must be a string, got " + kind(n));
    return n.asText();
  }

  /** An integer in [min, max] (a JSON integer: 5.0, "5" and true are refused), or null. */
  static Long integer(JsonNode body, String field, String param, long min, long max) throws ApiError {
    JsonNode n = body.get(field);
    if (n == null || n.isNull()) return null;
    if (!n.isIntegralNumber() || !n.canConvertToLong())
      throw ApiError.badRequest(param, "'" + param + "' must be an integer in [" + min + ", " + max + "], got " + kind(n));
    long v = n.asLong();
    if (v < min || v > max) throw ApiError.badRequest(param, "'" + param + "' must be in [" + min + ", " + max + "], got " + v);
    return v;
  }

  /** A finite number in [min, max], or null. */
  static Double number(JsonNode body, String field, String param, double min, double max) throws ApiError {
    JsonNode n = body.get(field);
    if (n == null || n.isNull()) return null;
    if (!n.isNumber()) throw ApiError.badRequest(param, "'" + param + "' must be a number, got " + kind(n));
    double v = n.asDouble();
    if (!Double.isFinite(v) || v < min || v > max)
      throw ApiError.badRequest(param, "'" + param + "' must be in [" + min + ", " + max + "], got " + n.asText());
    return v;
  }

  static boolean bool(JsonNode body, String field, String param, boolean fallback) throws ApiError {
    JsonNode n = body.get(field);
    if (n == null || n.isNull()) return fallback;
    if (!n.isBoolean()) throw ApiError.badRequest(param, "'" + param + "' must be true or false, got " + kind(n));
    return n.asBoolean();
  }

  /** What a JSON value is, for messages (never the value itself: it may be megabytes). */
  static String kind(JsonNode n) {
    if (n.isTextual()) return "a string";
    if (n.isIntegralNumber()) return n.canConvertToLong() ? "the integer " + n.asText() : "an integer out of range";
    if (n.isNumber()) return "the number " + n.asText();
    if (n.isBoolean()) return n.asText();
    if (n.isArray()) return "an array";
    if (n.isObject()) return "an object";
    if (n.isNull()) return "null";
    return n.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
  }
}
