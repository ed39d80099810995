package ai.viscpm;

import java.util.Base64;

/** {@code data:} URLs (RFC 2397) as HTTP APIs and LLM frameworks pass images. */
public final class DataUrls {
  private DataUrls() {}

  /**
   * The bytes of a base64 {@code data:} URL ({@code data:image/png;base64,...}).
   *
   * @throws InvalidInputException for another scheme, a non-base64 data URL or bad base64
   */
  public static byte[] decode(String url) throws InvalidInputException {
    if (url == null || !url.startsWith("data:"))
      throw new InvalidInputException("only data: URLs are accepted for images (data:image/png;base64,...); "
          + "nothing is fetched from the network");
    int comma = url.indexOf(',');
    if (comma < 0 || !url.substring(0, comma).endsWith(";base64"))
      throw new InvalidInputException("the image data URL must be base64 (data:image/...;base64,...)");
    try {
      return Base64.getDecoder().decode(url.substring(comma + 1).trim());
    } catch (IllegalArgumentException e) {
      throw new InvalidInputException("the image data URL is not valid base64");
    }
  }
}
