package ai.viscpm.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;

/**
 * Seeded requests for fuzzing {@code viscpm serve} (an OpenAI-compatible server with the
 * models {@code viscpm-chat} and {@code viscpm-paint}) over raw sockets, and the rule every
 * answer must keep. Most requests are broken on purpose (truncated or bit-flipped JSON,
 * wrong types in every field, absurd parameters, deep nesting, bad data URLs and images,
 * wrong routes, bodies over the limit, broken chunked encoding, malformed HTTP, clients that
 * hang up); some are valid and cheap (short answers, one-step paintings, health checks).
 *
 * <p>{@link #next()} gives the next case, {@link Client#run(Case)} sends it and {@link
 * #check(Case, RawHttp.Response)} tells whether the answer was right: a valid request gets a
 * correct 200, a bad one a 4xx in OpenAI's error shape (a 500 is a finding), broken HTTP a
 * 4xx/5xx from the JDK's HTTP layer or a closed connection, and nothing ever hangs.
 */
public final class HttpFuzz {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String MARK = "\"@@FUZZ@@\"";

  /** What a correct server does with a case. */
  public enum Expect {
    /** A 200 with a correct answer. */
    OK,
    /** A 4xx (or 429/503) in OpenAI's error shape. */
    ERROR,
    /** Either: a mutation that may still be a valid request. */
    OK_OR_ERROR,
    /** Malformed HTTP: a 4xx/5xx (the JDK's own) or a closed connection, never a 2xx or a hang. */
    REFUSED,
    /** Odd but legal HTTP: any complete answer or a closed connection, never a hang. */
    ANY,
    /** The client hangs up before the answer; only the server's health afterwards counts. */
    HANG_UP
  }

  /**
   * One request.
   *
   * @param kind the family (for statistics)
   * @param bytes what goes on the wire
   * @param fresh sent on a connection of its own (closed after)
   * @param head a HEAD request (no response body)
   * @param hangUpAfter for {@link Expect#HANG_UP}: bytes sent before closing (-1: all of them)
   * @param readBeforeHangUp for {@link Expect#HANG_UP}: response bytes read before closing
   */
  public record Case(String kind, byte[] bytes, Expect expect, boolean fresh, boolean head, int hangUpAfter,
      int readBeforeHangUp) {
    public static Case of(String kind, byte[] bytes, Expect expect) {
      return new Case(kind, bytes, expect, false, false, -1, 0);
    }

    public static Case fresh(String kind, byte[] bytes, Expect expect) {
      return new Case(kind, bytes, expect, true, false, -1, 0);
    }
  }

  private final Random rnd;
  /** The tiny PNG of the valid requests. */
  public final byte[] png;
  private final long maxBodyBytes;
  private final int paintSize;
  private final String png64;

  /**
   * @param seed the whole sequence follows from it
   * @param maxBodyBytes the server's body limit (bodies just over it are generated)
   * @param paintSize a side the paint model accepts (its size multiple); 0: no paint requests
   */
  public HttpFuzz(long seed, long maxBodyBytes, int paintSize) {
    this.rnd = new Random(seed);
    this.maxBodyBytes = maxBodyBytes;
    this.paintSize = paintSize;
    this.png = tinyPng(new Random(seed ^ 0x5DEECE66DL));
    this.png64 = Base64.getEncoder().encodeToString(png);
  }

  private static byte[] tinyPng(Random r) {
    BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 8; y++) for (int x = 0; x < 8; x++) img.setRGB(x, y, r.nextInt(1 << 24));
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      ImageIO.write(img, "png", out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  // --- valid requests ------------------------------------------------------------------------

  /** A valid chat request: a short question about the tiny picture, a short answer. */
  public ObjectNode chatBody(boolean stream) {
    ObjectNode req = JSON.createObjectNode().put("model", "viscpm-chat").put("max_tokens", 2 + rnd.nextInt(5));  // beam search needs at least 2
    if (stream) {
      req.put("stream", true);
      if (rnd.nextBoolean()) req.putObject("stream_options").put("include_usage", true);
    }
    if (rnd.nextInt(4) == 0) req.put("temperature", 0.5 + rnd.nextDouble()).put("seed", rnd.nextInt(1000));
    ArrayNode parts = req.putArray("messages").addObject().put("role", "user").putArray("content");
    parts.addObject().put("type", "text").put("text", pick("What is in the picture?", "图片里有什么？", "colour?", ""));
    parts.addObject().put("type", "image_url").putObject("image_url").put("url", "data:image/png;base64," + png64);
    return req;
  }

  /** A valid one-step painting of the smallest size. */
  public ObjectNode paintBody() {
    return JSON.createObjectNode().put("model", "viscpm-paint").put("prompt", pick("一只猫", "a lighthouse", "x"))
        .put("size", paintSize + "x" + paintSize).put("steps", 1).put("n", 1).put("seed", rnd.nextInt(100));
  }

  public static byte[] post(String path, String body) {
    return RawHttp.request("POST", path, "application/json", body.getBytes(StandardCharsets.UTF_8));
  }

  public static byte[] post(String path, byte[] body) {
    return RawHttp.request("POST", path, "application/json", body);
  }

  public static byte[] get(String path) {
    return RawHttp.request("GET", path, null, null);
  }

  // --- the sequence --------------------------------------------------------------------------

  public Case next() {
    int p = rnd.nextInt(1000);
    if (p < 40) return Case.of("cheap", get(pick("/health", "/v1/models", "/metrics")), Expect.OK);
    if (p < 70) {
      boolean stream = rnd.nextInt(3) == 0;
      return Case.of(stream ? "chat-stream" : "chat", post("/v1/chat/completions", chatBody(stream).toString()), Expect.OK);
    }
    if (p < 75 && paintSize > 0) return Case.of("paint", post("/v1/images/generations", paintBody().toString()), Expect.OK);
    if (p < 160) return truncated();
    if (p < 250) return flipped();
    if (p < 390) return typeSwap();
    if (p < 470) return absurd();
    if (p < 520) return nested();
    if (p < 610) return badImage();
    if (p < 690) return badJson();
    if (p < 715) return contentType();
    if (p < 775) return wrongRoute();
    if (p < 805) return overLimit();
    if (p < 845) return chunked();
    if (p < 925) return malformedHttp();
    if (p < 999) return hangUp();
    return slowBody();
  }

  private Case truncated() {
    byte[] body = (rnd.nextBoolean() ? chatBody(rnd.nextBoolean()) : paintBody()).toString().getBytes(StandardCharsets.UTF_8);
    byte[] cut = Arrays.copyOf(body, rnd.nextInt(body.length));
    return Case.of("truncated", post(rnd.nextInt(3) > 0 ? "/v1/chat/completions" : "/v1/images/generations", cut), Expect.ERROR);
  }

  private Case flipped() {
    boolean chat = paintSize == 0 || rnd.nextInt(4) > 0;
    byte[] body = (chat ? chatBody(false) : paintBody()).toString().getBytes(StandardCharsets.UTF_8);
    for (int i = 1 + rnd.nextInt(3); i > 0; i--) body[rnd.nextInt(body.length)] = (byte) rnd.nextInt(256);
    return Case.of("flipped", post(chat ? "/v1/chat/completions" : "/v1/images/generations", body), Expect.OK_OR_ERROR);
  }

  /** Values of every JSON type and some edge numbers, as JSON text. */
  public static final String[] VALUES = {
      "null", "true", "false", "0", "-1", "1", "2", "1.5", "-0", "-1e308", "1e400", "-1e400", "4097", "2147483648",
      "123456789012345678901234567890", "\"\"", "\"x\"", "\"1\"", "\"viscpm-chat\"", "\"viscpm-paint\"", "[]", "[1]",
      "[\"a\"]", "{}", "{\"a\":{}}", "{\"type\":\"text\",\"text\":5}", "[[[[[[]]]]]]", "\"\\u0000\"", "\"\\ud800\"",
      "\"" + "x".repeat(5000) + "\""};
  public static final List<List<Object>> CHAT_PATHS = List.of(
      List.of("model"), List.of("messages"), List.of("max_tokens"), List.of("max_completion_tokens"), List.of("temperature"),
      List.of("top_p"), List.of("n"), List.of("stream"), List.of("stream_options"), List.of("stream_options", "include_usage"),
      List.of("seed"), List.of("user"), List.of("messages", 0), List.of("messages", 1), List.of("messages", 0, "role"),
      List.of("messages", 0, "content"), List.of("messages", 0, "content", 0), List.of("messages", 0, "content", 0, "type"),
      List.of("messages", 0, "content", 0, "text"), List.of("messages", 0, "content", 1, "type"),
      List.of("messages", 0, "content", 1, "image_url"), List.of("messages", 0, "content", 1, "image_url", "url"),
      List.of("messages", 0, "content", 1, "image_url", "detail"), List.of("messages", 0, "content", 2));
  public static final List<List<Object>> PAINT_PATHS = List.of(
      List.of("model"), List.of("prompt"), List.of("n"), List.of("size"), List.of("steps"), List.of("guidance_scale"),
      List.of("seed"), List.of("scheduler"), List.of("negative_prompt"), List.of("response_format"), List.of("style"));

  /** A field of a valid request (or one added) replaced by a value of another type or range. */
  private Case typeSwap() {
    boolean chat = paintSize == 0 || rnd.nextInt(5) > 0;
    ObjectNode body = chat ? chatBody(false) : paintBody();
    List<Object> path = pick(chat ? CHAT_PATHS : PAINT_PATHS);
    String value = pick(VALUES);
    // Values that keep a paint request valid but make it costly stay out (a null size or steps paints at the defaults).
    if (!chat && value.equals("null") && (path.get(0).equals("steps") || path.get(0).equals("size"))) value = "-1";
    if (!chat && path.get(0).equals("n") && (value.equals("2"))) value = "0";
    String text = withValue(body, path, value);
    return Case.of("type-swap", post(chat ? "/v1/chat/completions" : "/v1/images/generations", text), Expect.OK_OR_ERROR);
  }

  /** The JSON text of {@code body} with {@code raw} (JSON text, any type) at {@code path}, made if missing. */
  public static String withValue(ObjectNode body, List<Object> path, String raw) {
    JsonNode node = body;
    for (int i = 0; i < path.size() - 1; i++) {
      Object key = path.get(i);
      JsonNode next = key instanceof String s ? node.get(s) : node.get((Integer) key);
      if (next == null || !next.isContainerNode()) {
        next = path.get(i + 1) instanceof String ? JSON.createObjectNode() : JSON.createArrayNode();
        set(node, key, next);
      }
      node = next;
    }
    set(node, path.get(path.size() - 1), JSON.getNodeFactory().textNode("@@FUZZ@@"));
    return body.toString().replace(MARK, raw);
  }

  private static void set(JsonNode container, Object key, JsonNode value) {
    if (container instanceof ObjectNode o) {
      o.set(key instanceof String s ? s : String.valueOf(key), value);
    } else if (container instanceof ArrayNode a) {
      int i = (Integer) key;
      while (a.size() <= i) a.addNull();
      a.set(i, value);
    }
  }

  /** {field, JSON value} pairs that a chat request must refuse. */
  public static final String[][] CHAT_ABSURD = {
      {"max_tokens", "-1"}, {"max_tokens", "0"}, {"max_tokens", "4097"}, {"max_tokens", "2147483647"},
      {"max_tokens", "1e30"}, {"max_tokens", "5.5"}, {"max_tokens", "\"12\""}, {"max_completion_tokens", "-5"},
      {"n", "0"}, {"n", "2"}, {"n", "1000000"}, {"n", "true"}, {"temperature", "-1"}, {"temperature", "2.5"},
      {"temperature", "1e30"}, {"temperature", "1e400"}, {"top_p", "0"}, {"top_p", "1.5"}, {"top_p", "-0.1"},
      {"seed", "1.5"}, {"seed", "\"x\""}, {"seed", "1e30"}, {"seed", "123456789012345678901234567890"},
      {"stream", "\"yes\""}, {"stream_options", "5"}, {"model", "\"gpt-4o\""}, {"model", "5"}, {"messages", "[]"},
      {"messages", "[{\"role\":\"user\",\"content\":\"no image\"}]"},
      {"messages", "[{\"role\":\"assistant\",\"content\":\"first\"}]"},
      {"messages", "[{\"role\":\"tool\",\"content\":\"x\"}]"},
      {"messages", "[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"b\"}]"}};
  /** {field, JSON value} pairs that an images request must refuse. */
  public static final String[][] PAINT_ABSURD = {
      {"size", "\"999999x999999\""}, {"size", "\"0x0\""}, {"size", "\"-64x64\""}, {"size", "\"65x64\""},
      {"size", "\"abc\""}, {"size", "\"64x64x64\""}, {"size", "\"64\""}, {"size", "\"x64\""}, {"size", "\"64x\""},
      {"size", "\"99999999999999999999x64\""}, {"size", "\"4096x4096\""}, {"size", "512"}, {"steps", "0"},
      {"steps", "-1"}, {"steps", "1001"}, {"steps", "2147483648"}, {"steps", "1.5"}, {"guidance_scale", "1e30"},
      {"guidance_scale", "-1"}, {"guidance_scale", "101"}, {"guidance_scale", "1e400"}, {"guidance_scale", "\"7\""},
      {"n", "0"}, {"n", "9"}, {"n", "1000000000"}, {"n", "1.5"}, {"prompt", "\"\""}, {"prompt", "null"},
      {"prompt", "5"}, {"prompt", "[]"}, {"negative_prompt", "5"}, {"scheduler", "\"nope\""}, {"scheduler", "7"},
      {"response_format", "\"url\""}, {"model", "\"dall-e-3\""}, {"seed", "\"x\""}};

  /** A parameter out of range or of the wrong kind: always a 400 (404 for an unknown model). */
  private Case absurd() {
    boolean chat = paintSize == 0 || rnd.nextBoolean();
    String[] a = pick(chat ? CHAT_ABSURD : PAINT_ABSURD);
    if (rnd.nextInt(20) == 0) {  // prompts over the native limits
      String big = "猫".repeat(4000 + rnd.nextInt(4000));
      return Case.of("absurd", chat
          ? post("/v1/chat/completions", withValue(chatBody(false), List.of("messages", 0, "content", 0, "text"),
              JSON.getNodeFactory().textNode(big).toString()))
          : post("/v1/images/generations", withValue(paintBody(), List.of("prompt"), JSON.getNodeFactory().textNode(big).toString())),
          Expect.ERROR);
    }
    String text = withValue(chat ? chatBody(false) : paintBody(), List.of(a[0]), a[1]);
    return Case.of("absurd", post(chat ? "/v1/chat/completions" : "/v1/images/generations", text), Expect.ERROR);
  }

  /** JSON nested past any sane depth (Jackson's limit is 500 by default). */
  private Case nested() {
    int depth = pick(600, 1000, 5000, 20000, 100000);
    depth = (int) Math.min(depth, maxBodyBytes / 6);
    String body;
    switch (rnd.nextInt(4)) {
      case 0 -> body = "[".repeat(depth);
      case 1 -> body = "{\"a\":".repeat(depth) + "1" + "}".repeat(depth);
      case 2 -> body = "[".repeat(depth) + "]".repeat(depth);
      default -> body = withValue(chatBody(false), List.of("messages", 0, "content"), "[".repeat(depth) + "]".repeat(depth));
    }
    return Case.of("nested", post(rnd.nextBoolean() ? "/v1/chat/completions" : "/v1/images/generations", body), Expect.ERROR);
  }

  /** An image_url that is not a decodable image in a data: URL. */
  private Case badImage() {
    int v = rnd.nextInt(BAD_IMAGE_VARIANTS);
    String text = withValue(chatBody(false), List.of("messages", 0, "content", 1, "image_url", "url"),
        JSON.getNodeFactory().textNode(badImageUrl(v)).toString());
    return Case.of("bad-image", post("/v1/chat/completions", text), badImageMayDecode(v) ? Expect.OK_OR_ERROR : Expect.ERROR);
  }

  /** Variant 10 is the PNG less its last bytes (the end of IEND): base64 that may still be valid, a PNG decoders may take. */
  public static boolean badImageMayDecode(int v) {
    return v == 10;
  }

  public static final int BAD_IMAGE_VARIANTS = 20;

  /** Variant {@code v} (0 to {@link #BAD_IMAGE_VARIANTS} - 1) of an image URL that is no decodable image. */
  public String badImageUrl(int v) {
    byte[] random = new byte[1 + rnd.nextInt(200)];
    rnd.nextBytes(random);
    byte[] bomb = png.clone();  // the IHDR says 100000 x 100000 (the CRC is then wrong too)
    writeInt(bomb, 16, 100000);
    writeInt(bomb, 20, 100000);
    Base64.Encoder b64 = Base64.getEncoder();
    return switch (v) {
      case 0 -> "https://example.com/cat.png";
      case 1 -> "http://127.0.0.1:1/x.png";
      case 2 -> "file:///etc/passwd";
      case 3 -> "";
      case 4 -> "data:";
      case 5 -> "data:,";
      case 6 -> "data:image/png," + png64;
      case 7 -> "data:image/png;base64";
      case 8 -> "data:image/png;base64,";
      case 9 -> "data:image/png;base64,!!!!" + png64;
      case 10 -> "data:image/png;base64," + png64.substring(0, png64.length() - 1 - rnd.nextInt(3)) + "=";
      case 11 -> "data:image/png;base64," + b64.encodeToString(random);
      case 12 -> "data:image/png;base64," + b64.encodeToString(Arrays.copyOf(png, 8 + rnd.nextInt(png.length / 2)));
      case 13 -> "data:image/png;base64," + b64.encodeToString(bomb);
      case 14 -> "data:image/gif;base64," + b64.encodeToString("GIF89a\1\0\1\0\0\0\0;".getBytes(StandardCharsets.ISO_8859_1));
      case 15 -> "data:image/svg+xml;base64," + b64.encodeToString("<svg xmlns='http://www.w3.org/2000/svg'/>".getBytes());
      case 16 -> "data:image/png;base64," + png64.substring(0, png64.length() / 2) + "\n" + png64.substring(png64.length() / 2);
      case 17 -> "data:image/jpeg;base64," + b64.encodeToString(new byte[] {(byte) 0xff, (byte) 0xd8, (byte) 0xff, (byte) 0xe0});
      case 18 -> "data:image/png;base64," + png64.replace('A', '-').replace('B', '_') + "-_";
      default -> "data:image/png;base64," + b64.encodeToString(new byte[0]);
    };
  }

  private static void writeInt(byte[] b, int at, int v) {
    b[at] = (byte) (v >>> 24);
    b[at + 1] = (byte) (v >>> 16);
    b[at + 2] = (byte) (v >>> 8);
    b[at + 3] = (byte) v;
  }

  /** Bodies that are not a JSON object. */
  private Case badJson() {
    byte[] random = new byte[1 + rnd.nextInt(300)];
    rnd.nextBytes(random);
    random[0] = (byte) 0xff;
    String valid = chatBody(false).toString();
    byte[] body = switch (rnd.nextInt(22)) {
      case 0 -> new byte[0];
      case 1 -> " \r\n\t ".getBytes();
      case 2 -> "null".getBytes();
      case 3 -> "[]".getBytes();
      case 4 -> "[1,2]".getBytes();
      case 5 -> "1".getBytes();
      case 6 -> "\"s\"".getBytes();
      case 7 -> "true".getBytes();
      case 8 -> "{".getBytes();
      case 9 -> "}".getBytes();
      case 10 -> (valid + "}").getBytes();
      case 11 -> (valid + "garbage").getBytes();
      case 12 -> valid.replace('"', '\'').getBytes();
      case 13 -> "{\"model\":NaN}".getBytes();
      case 14 -> "{\"model\":\"viscpm-chat\",}".getBytes();
      case 15 -> ("/* comment */" + valid).getBytes();
      case 16 -> random;
      case 17 -> RawHttp.concat("{\"model\":\"".getBytes(), new byte[] {(byte) 0xff, (byte) 0xfe, (byte) 0xc3}, "\"}".getBytes());
      case 18 -> "{\"model\":\"viscpm-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"unterminated".getBytes();
      case 19 -> "\0\0\0\0".getBytes();
      case 20 -> "{}".getBytes();
      default -> ("{\"model\":\"viscpm-chat\",\"messages\":[" + "{\"role\":\"user\",\"content\":\"hi\"},".repeat(3)
          + "]}").getBytes();
    };
    return Case.of("bad-json", post(rnd.nextBoolean() ? "/v1/chat/completions" : "/v1/images/generations", body), Expect.ERROR);
  }

  /** Valid JSON under another Content-Type is served (clients often send none); a form body is not JSON. */
  private Case contentType() {
    byte[] body = chatBody(false).toString().getBytes(StandardCharsets.UTF_8);
    return switch (rnd.nextInt(4)) {
      case 0 -> Case.of("content-type", RawHttp.request("POST", "/v1/chat/completions", "text/plain", body), Expect.OK);
      case 1 -> Case.of("content-type", RawHttp.request("POST", "/v1/chat/completions", null, body), Expect.OK);
      case 2 -> Case.of("content-type", RawHttp.request("POST", "/v1/chat/completions", "multipart/form-data; boundary=x",
          body), Expect.OK);
      default -> Case.of("content-type", RawHttp.request("POST", "/v1/chat/completions", "application/x-www-form-urlencoded",
          "model=viscpm-chat&messages=x".getBytes()), Expect.ERROR);
    };
  }

  /** Unknown paths and wrong methods: 404 / 405. */
  private Case wrongRoute() {
    byte[] body = "{}".getBytes();
    return switch (rnd.nextInt(11)) {
      case 0 -> Case.of("route", get("/v1/chat/completions"), Expect.ERROR);
      case 1 -> Case.of("route", RawHttp.request("PUT", "/health", "application/json", body), Expect.ERROR);
      case 2 -> Case.of("route", RawHttp.request("DELETE", "/v1/models", null, null), Expect.ERROR);
      case 3 -> Case.of("route", get("/v1/nope"), Expect.ERROR);
      case 4 -> Case.of("route", get("/"), Expect.ERROR);
      case 5 -> Case.of("route", post("/v1/chat/completions/", "{}"), Expect.ERROR);
      case 6 -> Case.of("route", get("/v1/../health"), Expect.ERROR);
      case 7 -> new Case("route", RawHttp.request("HEAD", "/health", null, null), Expect.ERROR, false, true, -1, 0);
      case 8 -> Case.of("route", RawHttp.request("OPTIONS", "/v1/chat/completions", null, null), Expect.ERROR);
      case 9 -> Case.of("route", post("/v1/models", "{}"), Expect.ERROR);
      default -> Case.of("route", RawHttp.request("get", "/health", null, null), Expect.ERROR);
    };
  }

  /** A Content-Length over the limit (413 before a byte of the body is read), or a body just over it, sent. */
  private Case overLimit() {
    if (rnd.nextBoolean()) {
      long declared = pick(maxBodyBytes + 1, 10_000_000_000L, Long.MAX_VALUE);
      byte[] head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
          + declared + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1);
      return Case.fresh("over-limit", RawHttp.concat(head, "{\"model\":".getBytes()), Expect.ERROR);
    }
    byte[] body = new byte[(int) Math.min(maxBodyBytes + 1 + rnd.nextInt(4096), Integer.MAX_VALUE - 8)];
    Arrays.fill(body, (byte) ' ');
    body[0] = '{';
    return Case.of("over-limit", post("/v1/chat/completions", body), Expect.ERROR);
  }

  /** Chunked request bodies: valid ones in random pieces, one over the limit, broken framing. */
  private Case chunked() {
    byte[] head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        .getBytes(StandardCharsets.ISO_8859_1);
    int kind = rnd.nextInt(4);
    if (kind == 3) {  // broken framing: answered (400, then the connection closes) or just closed
      byte[] bad = pick("zz\r\nabc\r\n0\r\n\r\n", "5\r\nabcdefghij\r\n0\r\n\r\n", "-1\r\n\r\n", "3\r\nabc0\r\n\r\n")
          .getBytes(StandardCharsets.ISO_8859_1);
      return Case.fresh("chunked", RawHttp.concat(head, bad), Expect.REFUSED);
    }
    byte[] body = kind == 2 ? new byte[(int) maxBodyBytes + 1 + rnd.nextInt(1000)]
        : chatBody(false).toString().getBytes(StandardCharsets.UTF_8);
    if (kind == 2) {
      Arrays.fill(body, (byte) ' ');
      body[0] = '{';
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(head);
    for (int at = 0; at < body.length; ) {
      int n = Math.min(body.length - at, 1 + rnd.nextInt(kind == 2 ? 65536 : 300));
      out.writeBytes((Integer.toHexString(n) + (rnd.nextInt(8) == 0 ? ";ext=1" : "") + "\r\n").getBytes());
      out.write(body, at, n);
      out.writeBytes("\r\n".getBytes());
      at += n;
    }
    out.writeBytes("0\r\n\r\n".getBytes());
    return Case.of("chunked", out.toByteArray(), kind == 2 ? Expect.ERROR : Expect.OK);
  }

  /** Malformed HTTP, each ending its headers (the server has all it needs to decide). */
  private Case malformedHttp() {
    byte[] random = new byte[1 + rnd.nextInt(100)];
    rnd.nextBytes(random);
    for (int i = 0; i < random.length; i++) if (random[i] == '\r' || random[i] == '\n') random[i] = 'x';
    String h = "Host: x\r\n";
    String req = switch (rnd.nextInt(16)) {
      case 0 -> "GET\r\n\r\n";
      case 1 -> "GET /health\r\n\r\n";
      case 2 -> "GET /health HTTP/1.1\r\n" + h + "Bad Header: x\r\n\r\n";
      case 3 -> "POST /v1/chat/completions HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
      case 4 -> "POST /v1/chat/completions HTTP/1.1\r\n" + h + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
      case 5 -> "POST /v1/chat/completions HTTP/1.1\r\n" + h + "Content-Length: abc\r\n\r\n";
      case 6 -> "POST /v1/chat/completions HTTP/1.1\r\n" + h + "Content-Length: -5\r\n\r\n";
      case 7 -> "POST /v1/chat/completions HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip\r\n\r\n";
      case 8 -> "GET /health HTTP/1.1\r\n" + h + "X-Big: " + "a".repeat(400_000 + rnd.nextInt(100_000)) + "\r\n\r\n";
      case 9 -> {
        StringBuilder many = new StringBuilder("GET /health HTTP/1.1\r\n" + h);
        for (int i = 0; i < 300; i++) many.append("X-Many-").append(i).append(": 1\r\n");
        yield many.append("\r\n").toString();  // legal; the JDK may refuse so many (sun.net.httpserver.maxReqHeaders)
      }
      case 10 -> "GET /%zz HTTP/1.1\r\n" + h + "\r\n";
      case 11 -> "GET http://[::1 HTTP/1.1\r\n" + h + "\r\n";
      case 12 -> new String(random, StandardCharsets.ISO_8859_1) + "\r\n\r\n";
      case 13 -> "POST /v1/chat/completions HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
      case 14 -> "GET /health HTTP/1.1\r\n" + h + "Content-Length: 1 2\r\n\r\n";
      default -> "\r\n\r\nBAD\r\n\r\n";  // empty lines before a request line are skipped (RFC 9112)
    };
    return Case.fresh("malformed-http", req.getBytes(StandardCharsets.ISO_8859_1), req.contains("X-Many-") ? Expect.ANY : Expect.REFUSED);
  }

  /** A client that hangs up: half-way through its request, while the answer streams, or right after asking. */
  private Case hangUp() {
    boolean stream = rnd.nextBoolean();
    byte[] full = post("/v1/chat/completions", chatBody(stream).put("max_tokens", 32 + rnd.nextInt(200)).toString());
    return switch (rnd.nextInt(3)) {
      case 0 -> new Case("hang-up", full, Expect.HANG_UP, true, false, rnd.nextInt(full.length), 0);
      case 1 -> new Case("hang-up", full, Expect.HANG_UP, true, false, -1, 1 + rnd.nextInt(600));
      default -> new Case("hang-up", full, Expect.HANG_UP, true, false, -1, 0);
    };
  }

  /** A body shorter than its Content-Length: the server waits up to its request timeout, then hangs up. */
  private Case slowBody() {
    byte[] head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\""
        .getBytes(StandardCharsets.ISO_8859_1);
    return Case.fresh("short-body", head, Expect.REFUSED);
  }

  @SafeVarargs
  private <T> T pick(T... options) {
    return options[rnd.nextInt(options.length)];
  }

  private <T> T pick(List<T> options) {
    return options.get(rnd.nextInt(options.size()));
  }

  // --- the rule ------------------------------------------------------------------------------

  /**
   * Null when {@code r} is a right answer to {@code c}, else what is wrong. {@code r} null:
   * the server closed the connection without an answer.
   */
  public static String check(Case c, RawHttp.Response r) {
    switch (c.expect()) {
      case HANG_UP:
        return null;
      case REFUSED:
        if (r == null) return null;
        return r.status() >= 400 && r.status() < 600 ? null : "malformed HTTP answered " + r.status();
      case ANY:
        return null;
      default:
        break;
    }
    if (r == null) return "no answer: the connection was closed";
    if (r.status() == 200 && c.expect() != Expect.ERROR) return checkOk(c, r);
    if (c.expect() == Expect.OK) return "expected 200, got " + r.status() + ": " + clip(r.text());
    if (r.status() == 200) return "expected an error, got 200: " + clip(r.text());
    return checkError(c, r);
  }

  /** Null when {@code r} is an error in OpenAI's shape with a 4xx (or 429/503) status. */
  public static String checkError(Case c, RawHttp.Response r) {
    if (r.status() < 400 || r.status() > 599) return "status " + r.status() + " for a bad request";
    if (r.status() >= 500 && r.status() != 503) return "server error " + r.status() + ": " + clip(r.text());
    if (c != null && c.head()) return r.body().length == 0 ? null : "a body in a HEAD response";
    try {
      JsonNode error = JSON.readTree(r.body()).path("error");
      if (!error.path("message").isTextual() || error.path("message").asText().isEmpty()) return "no error.message: " + clip(r.text());
      if (!error.path("type").isTextual()) return "no error.type: " + clip(r.text());
      if (!error.has("param") || !(error.get("param").isNull() || error.get("param").isTextual()))
        return "no error.param: " + clip(r.text());
      if (!error.has("code")) return "no error.code: " + clip(r.text());
      return null;
    } catch (IOException e) {
      return "error body is not JSON: " + clip(r.text());
    }
  }

  private static String checkOk(Case c, RawHttp.Response r) {
    String type = String.valueOf(r.header("Content-Type"));
    String text = r.text();
    try {
      if (type.startsWith("text/event-stream")) {
        if (!text.endsWith("data: [DONE]\n\n")) return "stream does not end with [DONE]: " + clip(text);
        for (String event : text.split("\n\n")) {
          if (event.startsWith(":") || event.equals("data: [DONE]")) continue;
          if (!event.startsWith("data: ")) return "not an SSE data event: " + clip(event);
          JsonNode chunk = JSON.readTree(event.substring(6));
          if (!"chat.completion.chunk".equals(chunk.path("object").asText())) return "not a chunk: " + clip(event);
        }
        return null;
      }
      if (type.startsWith("text/plain")) return text.contains("viscpm_requests_total") ? null : "bad metrics: " + clip(text);
      JsonNode root = JSON.readTree(r.body());
      if (root.path("object").asText().equals("chat.completion")) {
        return root.path("choices").path(0).path("message").path("content").isTextual() ? null : "no content: " + clip(text);
      }
      if (root.has("data") && root.path("data").isArray() && root.path("data").path(0).has("b64_json")) {
        for (JsonNode d : root.path("data")) {
          BufferedImage img = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(d.path("b64_json").asText())));
          if (img == null) return "b64_json is not an image";
        }
        return null;
      }
      if (root.path("object").asText().equals("list") || root.path("status").asText().equals("ok")) return null;
      return "unexpected 200 body: " + clip(text);
    } catch (IOException | IllegalArgumentException e) {
      return "bad 200 body (" + e + "): " + clip(text);
    }
  }

  static String clip(String s) {
    return s.length() <= 300 ? s : s.substring(0, 300) + "...";
  }

  // --- sending -------------------------------------------------------------------------------

  /** What happened to one case. {@code status}: the HTTP status, or -1 closed without answer, -2 hung up by us. */
  public record Result(Case c, int status, String failure) {}

  /**
   * Sends cases over one keep-alive connection (a fresh one for {@link Case#fresh()} cases),
   * reconnecting when the server closes it. Not thread-safe: one per client thread.
   */
  public static final class Client implements AutoCloseable {
    private final String host;
    private final int port;
    private final int timeoutMillis;
    private RawHttp conn;
    private long reconnects;
    private String previous = "none";  // the last exchange on conn
    private long previousAt = System.nanoTime();
    private final List<String> reconnectNotes = new java.util.ArrayList<>();

    public Client(String host, int port, int timeoutMillis) {
      this.host = host;
      this.port = port;
      this.timeoutMillis = timeoutMillis;
    }

    /** Times a kept connection was found closed by the server before a request and re-opened. */
    public long reconnects() {
      return reconnects;
    }

    /** For each reconnect: the exchange before it on that connection, and the case that found it closed. */
    public List<String> reconnectNotes() {
      return reconnectNotes;
    }

    public Result run(Case c) throws IOException {
      if (c.expect() == Expect.HANG_UP) return hangUp(c);
      if (c.fresh()) {
        try (RawHttp fresh = RawHttp.connect(host, port, timeoutMillis)) {
          return exchange(fresh, c, false);
        }
      }
      boolean reused = conn != null;
      if (conn == null) conn = RawHttp.connect(host, port, timeoutMillis);
      try {
        Result r = exchange(conn, c, reused);
        if (r.status() < 0) dropConnection();
        return r;
      } catch (IOException e) {
        dropConnection();
        throw e;
      }
    }

    private Result exchange(RawHttp on, Case c, boolean mayRetry) throws IOException {
      RawHttp.Response r;
      try {
        on.send(c.bytes());
      } catch (IOException e) {
        // The server may stop reading and answer (413) or close: read what it said.
      }
      try {
        r = on.read(c.head());
      } catch (EOFException | java.net.SocketException e) {
        if (mayRetry && e instanceof EOFException) {
          // A kept connection that the server closed meanwhile (idle timeout): once more, on a new one.
          reconnects++;
          if (reconnectNotes.size() < 20) {
            reconnectNotes.add(String.format(java.util.Locale.ROOT, "%s after %s, idle %.1f s", c.kind(), previous,
                (System.nanoTime() - previousAt) / 1e9));
          }
          dropConnection();
          conn = RawHttp.connect(host, port, timeoutMillis);
          return exchange(conn, c, false);
        }
        return new Result(c, -1, check(c, null));
      } catch (SocketTimeoutException e) {
        return new Result(c, -1, "no answer within " + timeoutMillis + " ms (" + c.kind() + ")");
      }
      if (on == conn) {
        previous = c.kind() + " " + r.status();
        previousAt = System.nanoTime();
      }
      if (r.closesConnection() && on == conn) dropConnection();
      return new Result(c, r.status(), check(c, r));
    }

    private Result hangUp(Case c) throws IOException {
      try (RawHttp s = RawHttp.connect(host, port, timeoutMillis)) {
        int n = c.hangUpAfter() < 0 ? c.bytes().length : c.hangUpAfter();
        s.send(c.bytes(), 0, n);
        if (c.readBeforeHangUp() > 0) s.socket().getInputStream().readNBytes(c.readBeforeHangUp());
        if ((n & 1) == 0) s.socket().setSoLinger(true, 0);  // half of them reset the connection
      } catch (IOException e) {
        // the server may have hung up first (an early error): fine
      }
      return new Result(c, -2, null);
    }

    private void dropConnection() {
      if (conn != null) conn.close();
      conn = null;
    }

    @Override
    public void close() {
      dropConnection();
    }
  }
}
