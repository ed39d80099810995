package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.server.ServerOptions;
import ai.viscpm.server.VisCpmServer;
import ai.viscpm.testkit.DemoModels;
import ai.viscpm.testkit.HttpFuzz;
import ai.viscpm.testkit.HttpFuzz.Case;
import ai.viscpm.testkit.HttpFuzz.Expect;
import ai.viscpm.testkit.RawHttp;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * viscpm serve against hostile and broken clients over real sockets (issue 11): malformed
 * JSON, wrong types in every field, huge and deeply nested bodies, bad images, absurd
 * parameters, slow clients, clients that hang up mid-stream, a thousand connections at once
 * and a seeded fuzz burst. Every bad request gets an HTTP error in OpenAI's shape (broken
 * HTTP: the JDK's own 4xx, or a close), never a 500 or a hang; after every group the server
 * still answers /health and a real chat completion correctly.
 */
class ServerRobustnessIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
  private static final int READ_TIMEOUT_MS = 20_000;
  private static final long BODY_LIMIT = 1 << 20;
  private static final int SLOTS = 2, QUEUE = 8;
  private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(2), WRITE_TIMEOUT = Duration.ofSeconds(2),
      KEEP_ALIVE = Duration.ofMillis(100);
  private static ChatModel chat;
  private static PaintModel paint;
  private static VisCpmServer server;
  private static HttpFuzz fuzz;
  private static String expectedAnswer;
  private static final List<AutoCloseable> cleanup = new ArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    Path dir = Files.createTempDirectory("viscpm-robustness-it");
    DemoModels.writeChatModel(dir.resolve("chat"));
    DemoModels.writePaintModel(dir.resolve("paint"));
    chat = ChatModel.load(dir.resolve("chat"));
    paint = PaintModel.load(dir.resolve("paint"));
    server = VisCpmServer.start(chat, paint, options(SLOTS, QUEUE), null);
    fuzz = new HttpFuzz(11, BODY_LIMIT, paint.sizeMultiple());
    try (ChatSession s = chat.newSession(fuzz.png)) {
      expectedAnswer = s.ask("What is in the picture?", GenerationConfig.builder().maxTokens(6).build(), null).text();
    }
  }

  static ServerOptions options(int slots, int queue) {
    return ServerOptions.defaults().withPort(0).withLimits(slots, queue, BODY_LIMIT)
        .withTimeouts(REQUEST_TIMEOUT, WRITE_TIMEOUT, KEEP_ALIVE);
  }

  @AfterEach
  void closeLeftovers() {
    for (AutoCloseable c : cleanup) {
      try {
        c.close();
      } catch (Exception ignored) {
        // best effort
      }
    }
    cleanup.clear();
  }

  @AfterAll
  static void stop() {
    if (server != null) server.close();
    if (chat != null) chat.close();
    if (paint != null) paint.close();
  }

  // --- helpers -------------------------------------------------------------------------------

  static String validChat(boolean stream) {
    ObjectNode req = JSON.createObjectNode().put("model", "viscpm-chat").put("max_tokens", 6).put("stream", stream);
    var parts = req.putArray("messages").addObject().put("role", "user").putArray("content");
    parts.addObject().put("type", "text").put("text", "What is in the picture?");
    parts.addObject().put("type", "image_url").putObject("image_url")
        .put("url", "data:image/png;base64," + java.util.Base64.getEncoder().encodeToString(fuzz.png));
    return req.toString();
  }

  static ObjectNode validChatNode() throws IOException {
    return (ObjectNode) JSON.readTree(validChat(false));
  }

  static ObjectNode validPaintNode() {
    return JSON.createObjectNode().put("model", "viscpm-paint").put("prompt", "一只猫")
        .put("size", paint.sizeMultiple() + "x" + paint.sizeMultiple()).put("steps", 1).put("seed", 3);
  }

  /** One request on a connection of its own. */
  static RawHttp.Response raw(VisCpmServer s, byte[] request) throws IOException {
    try (RawHttp c = RawHttp.connect("127.0.0.1", s.port(), READ_TIMEOUT_MS)) {
      c.send(request);
      return c.read(false);
    }
  }

  static JsonNode assertOpenAiError(RawHttp.Response r, int status) throws IOException {
    assertEquals(status, r.status(), r.text());
    assertNull(HttpFuzz.checkError(null, r), r.text());
    return JSON.readTree(r.body()).path("error");
  }

  /** /health and one real chat completion (the expected answer) still work. */
  static void assertServing(VisCpmServer s) throws Exception {
    var health = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + "/health"))
        .timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, health.statusCode());
    var r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + "/v1/chat/completions"))
        .timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofString(validChat(false))).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    assertEquals(expectedAnswer, JSON.readTree(r.body()).path("choices").path(0).path("message").path("content").asText());
  }

  /** Sends cases over one keep-alive connection; fails with every wrong answer. */
  static void runAll(VisCpmServer s, List<Case> cases) throws IOException {
    List<String> failures = new ArrayList<>();
    try (HttpFuzz.Client client = new HttpFuzz.Client("127.0.0.1", s.port(), READ_TIMEOUT_MS)) {
      for (Case c : cases) {
        HttpFuzz.Result r = client.run(c);
        if (r.failure() != null) failures.add(c.kind() + ": " + r.failure());
      }
    }
    assertTrue(failures.isEmpty(), failures.size() + " wrong answers, e.g. " + failures.subList(0, Math.min(5, failures.size())));
  }

  static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  // --- groups --------------------------------------------------------------------------------

  @Test
  void malformedJsonWrongTypesAndContentTypes() throws Exception {
    List<Case> cases = new ArrayList<>();
    // Truncated anywhere.
    byte[] valid = bytes(validChat(false));
    for (int i = 0; i < 30; i++) {
      cases.add(Case.of("truncated", HttpFuzz.post("/v1/chat/completions", Arrays.copyOf(valid, i * valid.length / 30)),
          Expect.ERROR));
    }
    // Every field, every type: an error or (null, a value still in range) a correct answer.
    for (List<Object> path : HttpFuzz.CHAT_PATHS) {
      for (String v : HttpFuzz.VALUES) {
        cases.add(Case.of("type " + path + "=" + HttpFuzz.VALUES.length, HttpFuzz.post("/v1/chat/completions",
            HttpFuzz.withValue(validChatNode(), path, v)), Expect.OK_OR_ERROR));
      }
    }
    // Paintings take 0.15 s even at one step: fewer values there, mostly of the wrong type.
    for (List<Object> path : HttpFuzz.PAINT_PATHS) {
      for (String v : List.of("null", "true", "-1", "1.5", "1e400", "123456789012345678901234567890", "\"x\"", "[]", "{}")) {
        if (v.equals("null") && (path.get(0).equals("steps") || path.get(0).equals("size"))) continue;  // the (slow) defaults
        cases.add(Case.of("type " + path, HttpFuzz.post("/v1/images/generations", HttpFuzz.withValue(validPaintNode(), path, v)),
            Expect.OK_OR_ERROR));
      }
    }
    // Bodies that are no JSON object.
    for (String body : List.of("", " ", "null", "[]", "[1,2]", "1", "\"s\"", "true", "{", "}", "{}", validChat(false) + "}",
        validChat(false) + "garbage", validChat(false).replace('"', '\''), "{\"model\":NaN}", "{\"model\":\"viscpm-chat\",}",
        "/* c */" + validChat(false))) {
      cases.add(Case.of("not json", HttpFuzz.post("/v1/chat/completions", body), Expect.ERROR));
      cases.add(Case.of("not json", HttpFuzz.post("/v1/images/generations", body), Expect.ERROR));
    }
    byte[] notUtf8 = RawHttp.concat(bytes("{\"model\":\""), new byte[] {(byte) 0xff, (byte) 0xfe, (byte) 0xc3}, bytes("\"}"));
    cases.add(Case.of("not utf-8", HttpFuzz.post("/v1/chat/completions", notUtf8), Expect.ERROR));
    byte[] binary = new byte[300];
    new java.util.Random(5).nextBytes(binary);
    binary[0] = (byte) 0xff;
    cases.add(Case.of("binary", HttpFuzz.post("/v1/chat/completions", binary), Expect.ERROR));
    // Unknown fields are ignored; any Content-Type holding JSON is read as JSON.
    ObjectNode extra = validChatNode();
    extra.put("frequency_penalty", 0.5).put("user", "me").putObject("metadata").put("x", 1);
    ((ObjectNode) extra.get("messages").get(0)).put("name", "alice");
    cases.add(Case.of("unknown fields", HttpFuzz.post("/v1/chat/completions", extra.toString()), Expect.OK));
    for (String type : Arrays.asList("text/plain", null, "multipart/form-data; boundary=x", "application/json; charset=utf-8")) {
      cases.add(Case.of("content-type", RawHttp.request("POST", "/v1/chat/completions", type, valid), Expect.OK));
    }
    runAll(server, cases);

    // The messages name the field.
    JsonNode e = assertOpenAiError(raw(server, HttpFuzz.post("/v1/chat/completions",
        HttpFuzz.withValue(validChatNode(), List.of("max_tokens"), "\"12\""))), 400);
    assertEquals("max_tokens", e.path("param").asText());
    e = assertOpenAiError(raw(server, HttpFuzz.post("/v1/chat/completions",
        HttpFuzz.withValue(validChatNode(), List.of("stream"), "\"yes\""))), 400);
    assertEquals("stream", e.path("param").asText());
    e = assertOpenAiError(raw(server, HttpFuzz.post("/v1/chat/completions",
        HttpFuzz.withValue(validChatNode(), List.of("messages", 0, "content", 0, "text"), "5"))), 400);
    assertEquals("messages[0].content[0].text", e.path("param").asText());
    e = assertOpenAiError(raw(server, RawHttp.request("POST", "/v1/chat/completions", "application/x-www-form-urlencoded",
        bytes("model=viscpm-chat"))), 400);
    assertTrue(e.path("message").asText().contains("Content-Type"), e.toString());
    e = assertOpenAiError(raw(server, HttpFuzz.post("/v1/chat/completions", validChat(false) + "x")), 400);
    assertTrue(e.path("message").asText().contains("not valid JSON"), e.toString());
    // temperature 0 is OpenAI's "most likely token": greedy decoding.
    var greedy = raw(server, HttpFuzz.post("/v1/chat/completions", HttpFuzz.withValue(validChatNode(), List.of("temperature"), "0")));
    assertEquals(200, greedy.status(), greedy.text());
    assertServing(server);
  }

  @Test
  void hugeBodiesAreRefusedEarlyAndDeepNestingIsA400() throws Exception {
    // A declared Content-Length over the limit: 413 before a byte of the body is sent.
    long t0 = System.nanoTime();
    RawHttp.Response r = raw(server, bytes("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + "Content-Length: 10000000000\r\n\r\n"));
    JsonNode e = assertOpenAiError(r, 413);
    assertEquals("request_too_large", e.path("code").asText());
    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(3), "413 took " + (System.nanoTime() - t0) / 1e6 + " ms");

    // A client that sends it anyway still reads the 413 (the server drops the rest of the body a while), ...
    byte[] big = new byte[3 << 20];
    Arrays.fill(big, (byte) ' ');
    big[0] = '{';
    var viaClient = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/chat/completions"))
        .POST(HttpRequest.BodyPublishers.ofByteArray(big)).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(413, viaClient.statusCode(), viaClient.body());
    // ... also when it is chunked (the server reads up to the limit, then answers).
    try (RawHttp c = RawHttp.connect("127.0.0.1", server.port(), READ_TIMEOUT_MS)) {
      c.send(bytes("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
      Thread writer = new Thread(() -> {
        try {
          byte[] piece = new byte[64 << 10];
          Arrays.fill(piece, (byte) ' ');
          byte[] head = bytes(Integer.toHexString(piece.length) + "\r\n");
          for (int i = 0; i < 48; i++) c.send(RawHttp.concat(head, piece, bytes("\r\n")));
          c.send(bytes("0\r\n\r\n"));
        } catch (IOException ignored) {
          // the server stopped reading: expected
        }
      });
      writer.start();
      assertOpenAiError(c.read(false), 413);
      writer.join(10_000);
    }

    // Deep nesting: Jackson's nesting limit, a 400 (never a StackOverflowError).
    for (String body : List.of("[".repeat(100_000), "{\"a\":".repeat(100_000) + "1" + "}".repeat(100_000),
        HttpFuzz.withValue(validChatNode(), List.of("messages", 0, "content"), "[".repeat(50_000) + "]".repeat(50_000)))) {
      for (String path : List.of("/v1/chat/completions", "/v1/images/generations")) {
        e = assertOpenAiError(raw(server, HttpFuzz.post(path, body)), 400);
        assertTrue(e.path("message").asText().contains("depth"), e.toString());
      }
    }
    // Wide instead of deep: 100,000 content parts, 5,000 turns of history.
    String parts = "[" + "1,".repeat(100_000) + "1]";
    assertOpenAiError(raw(server, HttpFuzz.post("/v1/chat/completions",
        HttpFuzz.withValue(validChatNode(), List.of("messages", 0, "content"), parts))), 400);
    StringBuilder history = new StringBuilder("[");
    for (int i = 0; i < 5000; i++) history.append("{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"ho\"},");
    history.append(JSON.readTree(validChat(false)).get("messages").get(0)).append(']');
    RawHttp.Response longHistory = raw(server, HttpFuzz.post("/v1/chat/completions",
        HttpFuzz.withValue(validChatNode(), List.of("messages"), history.toString())));
    assertNull(HttpFuzz.check(Case.of("history", null, Expect.OK_OR_ERROR), longHistory), longHistory.text());
    assertServing(server);
  }

  @Test
  void badImagesAreA400() throws Exception {
    List<Case> cases = new ArrayList<>();
    for (int v = 0; v < HttpFuzz.BAD_IMAGE_VARIANTS; v++) {
      String body = HttpFuzz.withValue(validChatNode(), List.of("messages", 0, "content", 1, "image_url", "url"),
          JSON.getNodeFactory().textNode(fuzz.badImageUrl(v)).toString());
      cases.add(Case.of("bad image " + v, HttpFuzz.post("/v1/chat/completions", body),
          HttpFuzz.badImageMayDecode(v) ? Expect.OK_OR_ERROR : Expect.ERROR));
    }
    // image_url of the wrong shape.
    for (String v : List.of("\"data:image/png;base64,AAAA\"", "null", "5", "[]", "{}", "{\"url\":5}")) {
      cases.add(Case.of("image_url shape", HttpFuzz.post("/v1/chat/completions",
          HttpFuzz.withValue(validChatNode(), List.of("messages", 0, "content", 1, "image_url"), v)), Expect.ERROR));
    }
    runAll(server, cases);
    assertServing(server);
  }

  @Test
  void absurdParametersAreA400NamingTheField() throws Exception {
    for (String[] a : HttpFuzz.CHAT_ABSURD) {
      RawHttp.Response r = raw(server, HttpFuzz.post("/v1/chat/completions", HttpFuzz.withValue(validChatNode(), List.of(a[0]), a[1])));
      int status = a[0].equals("model") && a[1].startsWith("\"") ? 404 : 400;
      JsonNode e = assertOpenAiError(r, status);
      if (status == 400) assertTrue(e.path("param").asText().startsWith(a[0]), a[0] + "=" + a[1] + ": " + e);
    }
    for (String[] a : HttpFuzz.PAINT_ABSURD) {
      RawHttp.Response r = raw(server, HttpFuzz.post("/v1/images/generations", HttpFuzz.withValue(validPaintNode(), List.of(a[0]), a[1])));
      int status = a[0].equals("model") ? 404 : 400;
      JsonNode e = assertOpenAiError(r, status);
      if (status == 400) assertEquals(a[0], e.path("param").asText(), a[0] + "=" + a[1] + ": " + e);
    }
    // Prompts over the native limits: refused with the limit, before any model work.
    String big = JSON.getNodeFactory().textNode("猫".repeat(5000)).toString();
    assertOpenAiError(raw(server, HttpFuzz.post("/v1/images/generations", HttpFuzz.withValue(validPaintNode(), List.of("prompt"), big))), 400);
    assertOpenAiError(raw(server, HttpFuzz.post("/v1/images/generations",
        HttpFuzz.withValue(validPaintNode(), List.of("negative_prompt"), big))), 400);
    RawHttp.Response question = raw(server, HttpFuzz.post("/v1/chat/completions",
        HttpFuzz.withValue(validChatNode(), List.of("messages", 0, "content", 0, "text"), big)));
    assertNull(HttpFuzz.check(Case.of("long question", null, Expect.OK_OR_ERROR), question), question.text());
    assertServing(server);
  }

  /** Trickles bytes into a socket until the server closes it; records when that happened. */
  static final class Trickler implements AutoCloseable {
    final Socket socket = new Socket();
    final Thread thread;
    volatile long closedAtNanos;

    Trickler(int port, byte[] upFront, byte[] trickle, long everyMillis) throws IOException {
      socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
      socket.getOutputStream().write(upFront);
      thread = new Thread(() -> {
        try {
          OutputStream out = socket.getOutputStream();
          InputStream in = socket.getInputStream();
          socket.setSoTimeout((int) everyMillis);
          for (int i = 0; ; i++) {
            if (trickle.length > 0) out.write(trickle[i % trickle.length]);
            out.flush();
            try {
              if (in.read() < 0) break;  // the server closed the connection
            } catch (SocketTimeoutException e) {
              // still open
            }
          }
        } catch (IOException e) {
          // reset or broken pipe: closed by the server
        }
        closedAtNanos = System.nanoTime();
      }, "trickler");
      thread.setDaemon(true);
      thread.start();
    }

    boolean closedByServer() {
      return closedAtNanos != 0;
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }

  @Test
  void slowClientsHoldNoSlotAndAreCutOff() throws Exception {
    long start = System.nanoTime();
    List<Trickler> headers = new ArrayList<>(), bodies = new ArrayList<>();
    byte[] requestHead = bytes("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + "X-Padding: " + "p".repeat(10_000) + "\r\n\r\n");
    for (int i = 0; i < 8; i++) {
      // Headers one byte at a time, never finished.
      Trickler t = new Trickler(server.port(), new byte[0], requestHead, 100);
      headers.add(t);
      cleanup.add(t);
      // Headers complete, the body stops after 10 of its 1000 bytes.
      Trickler b = new Trickler(server.port(), bytes("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
          + "{\"model\":\""), new byte[0], 100);
      bodies.add(b);
      cleanup.add(b);
    }
    Thread.sleep(300);
    // Both generation slots are free for others meanwhile.
    List<CompletableFuture<HttpResponse<String>>> both = new ArrayList<>();
    for (int i = 0; i < SLOTS; i++) {
      both.add(HTTP.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/chat/completions"))
          .timeout(Duration.ofSeconds(20)).POST(HttpRequest.BodyPublishers.ofString(validChat(false))).build(),
          HttpResponse.BodyHandlers.ofString()));
    }
    for (var f : both) assertEquals(200, f.get(30, TimeUnit.SECONDS).statusCode());
    assertServing(server);
    // The stalled bodies are cut at the request timeout.
    long deadline = System.nanoTime() + REQUEST_TIMEOUT.toNanos() + TimeUnit.SECONDS.toNanos(5);
    for (Trickler b : bodies) {
      while (!b.closedByServer() && System.nanoTime() < deadline) Thread.sleep(50);
      assertTrue(b.closedByServer(), "a stalled body was not cut off within the request timeout");
    }
    // Headers trickling in are the JDK's: cut at sun.net.httpserver.maxReqTime (the tests' JVM sets 5 s).
    long maxReqTime = Long.getLong("sun.net.httpserver.maxReqTime", -1);
    if (maxReqTime > 0 && maxReqTime <= 10) {
      deadline = start + TimeUnit.SECONDS.toNanos(maxReqTime + 5);
      for (Trickler t : headers) {
        while (!t.closedByServer() && System.nanoTime() < deadline) Thread.sleep(50);
        assertTrue(t.closedByServer(), "headers trickling in for more than maxReqTime = " + maxReqTime + " s were not cut off");
      }
    }
    assertServing(server);
  }

  @Test
  void aClientThatStopsReadingIsCutOffAndFreesItsSlot() throws Exception {
    ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
    PrintStream log = new PrintStream(logBytes, true, StandardCharsets.UTF_8);
    // One slot, no queue: while a stream is stuck, every other generation gets 429.
    try (VisCpmServer single = VisCpmServer.start(chat, null, options(1, 0), log)) {
      // Greedy answers of 4096 tokens, streamed token by token (~0.8 MB each), pipelined on one connection that is
      // never read: once the socket buffers (a few MB) are full, a write blocks in the middle of a generation.
      String body = validChat(true).replace("\"max_tokens\":6", "\"max_tokens\":4096,\"temperature\":0");
      byte[] one = HttpFuzz.post("/v1/chat/completions", body);
      Socket stuck = new Socket();
      stuck.setReceiveBufferSize(4096);
      stuck.connect(new InetSocketAddress("127.0.0.1", single.port()));
      cleanup.add(stuck);
      for (int i = 0; i < 8; i++) stuck.getOutputStream().write(one);
      stuck.getOutputStream().flush();
      long t0 = System.nanoTime();
      HttpResponse<String> after = null;
      while (System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(45)) {
        var health = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + single.port() + "/health")).build(),
            HttpResponse.BodyHandlers.ofString());
        assertEquals(200, health.statusCode());  // cheap requests are answered all along
        if (logBytes.toString(StandardCharsets.UTF_8).contains(" 499 ")) {
          after = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + single.port() + "/v1/chat/completions"))
              .POST(HttpRequest.BodyPublishers.ofString(validChat(false))).build(), HttpResponse.BodyHandlers.ofString());
          break;
        }
        Thread.sleep(100);
      }
      String lines = logBytes.toString(StandardCharsets.UTF_8);
      assertNotNull(after, "no stream was cut off: " + lines);
      // The stuck stream was cut (499 after the write timeout), the slot is free again.
      assertEquals(200, after.statusCode(), after.body());
      // The stuck client's connection was closed by the server, part-way through its answers.
      stuck.setSoTimeout(5000);
      long got = 0;
      try {
        byte[] buf = new byte[1 << 16];
        for (int k; (k = stuck.getInputStream().read(buf)) >= 0; ) got += k;
      } catch (IOException e) {
        // reset: closed by the server
      }
      assertTrue(got < 8L * 800_000, "the stuck client got " + got + " bytes: " + lines);
      assertServing(single);
    }
    assertServing(server);
  }

  @Test
  void aClientThatHangsUpMidStreamCancelsItsGeneration() throws Exception {
    ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
    PrintStream log = new PrintStream(logBytes, true, StandardCharsets.UTF_8);
    try (VisCpmServer single = VisCpmServer.start(chat, null, options(1, 0), log)) {
      // Beam search streams only the text all beams agree on: over random weights that can be nothing for a long
      // time, so a gone client is noticed by the keep-alive comments; sampling streams every token.
      // (A 4096-token beam search takes ~7 s on the demo model.)
      for (int round = 0; round < 2; round++) {
        String body = validChat(true).replace("\"max_tokens\":6", "\"max_tokens\":4096");
        try (Socket s = new Socket("127.0.0.1", single.port())) {
          s.getOutputStream().write(HttpFuzz.post("/v1/chat/completions", body));
          s.getOutputStream().flush();
          s.setSoTimeout(10_000);
          byte[] first = s.getInputStream().readNBytes(100);  // the response has started: the generation runs
          assertTrue(first.length > 0);
        }  // hang up
        long t0 = System.nanoTime();
        HttpResponse<String> after = null;
        while (System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(20)) {
          after = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + single.port() + "/v1/chat/completions"))
              .POST(HttpRequest.BodyPublishers.ofString(validChat(false))).build(), HttpResponse.BodyHandlers.ofString());
          if (after.statusCode() != 429) break;
          Thread.sleep(20);
        }
        assertEquals(200, after.statusCode(), after.body());
        double freedAfter = (System.nanoTime() - t0) / 1e9;
        assertTrue(freedAfter < 5, "the slot came back " + freedAfter + " s after the hang-up");
      }
      // Streams that a client reads to the end carry keep-alive comments that SSE clients skip.
      String streamed = new String(raw(single, HttpFuzz.post("/v1/chat/completions", validChat(true))).body(), StandardCharsets.UTF_8);
      assertTrue(streamed.endsWith("data: [DONE]\n\n"), streamed);
    }
    String lines = logBytes.toString(StandardCharsets.UTF_8);
    assertEquals(2, lines.lines().filter(l -> l.startsWith("POST /v1/chat/completions 499")).count(), lines);
    assertServing(server);
  }

  @Test
  void keepAliveCommentsAreSkippedByRealClients() throws Exception {
    // A keep-alive comment whenever a stream has been quiet for 1 ms: between most events of a 512-token beam search.
    try (VisCpmServer chatty = VisCpmServer.start(chat, null, ServerOptions.defaults().withPort(0)
        .withTimeouts(REQUEST_TIMEOUT, WRITE_TIMEOUT, Duration.ofMillis(1)), null)) {
      String expected;
      try (ChatSession s = chat.newSession(fuzz.png)) {
        expected = s.ask("What is in the picture?", GenerationConfig.builder().maxTokens(512).build(), null).text();
      }
      String raw = raw(chatty, HttpFuzz.post("/v1/chat/completions", validChat(true).replace("\"max_tokens\":6",
          "\"max_tokens\":512"))).text();
      assertTrue(raw.contains("\n: keep-alive\n"), "no keep-alive comment in a 512-token stream");
      String b64 = java.util.Base64.getEncoder().encodeToString(fuzz.png);
      // The official OpenAI Java client ...
      com.openai.client.OpenAIClient client = com.openai.client.okhttp.OpenAIOkHttpClient.builder()
          .baseUrl("http://127.0.0.1:" + chatty.port() + "/v1").apiKey("unused").build();
      try {
        var params = com.openai.models.chat.completions.ChatCompletionCreateParams.builder().model("viscpm-chat").maxTokens(512)
            .addUserMessageOfArrayOfContentParts(List.of(
                com.openai.models.chat.completions.ChatCompletionContentPart.ofText(
                    com.openai.models.chat.completions.ChatCompletionContentPartText.builder().text("What is in the picture?").build()),
                com.openai.models.chat.completions.ChatCompletionContentPart.ofImageUrl(
                    com.openai.models.chat.completions.ChatCompletionContentPartImage.builder().imageUrl(
                        com.openai.models.chat.completions.ChatCompletionContentPartImage.ImageUrl.builder()
                            .url("data:image/png;base64," + b64).build()).build())))
            .build();
        StringBuilder streamed = new StringBuilder();
        try (var stream = client.chat().completions().createStreaming(params)) {
          stream.stream().forEach(chunk -> chunk.choices().forEach(c -> c.delta().content().ifPresent(streamed::append)));
        }
        assertEquals(expected, streamed.toString());
      } finally {
        client.close();
      }
      // ... and LangChain4j's OpenAI streaming model.
      var lc = dev.langchain4j.model.openai.OpenAiStreamingChatModel.builder().baseUrl("http://127.0.0.1:" + chatty.port() + "/v1")
          .apiKey("unused").modelName("viscpm-chat").maxTokens(512).build();
      CompletableFuture<String> done = new CompletableFuture<>();
      StringBuilder pieces = new StringBuilder();
      lc.chat(List.of(dev.langchain4j.data.message.UserMessage.from(
          dev.langchain4j.data.message.TextContent.from("What is in the picture?"),
          new dev.langchain4j.data.message.ImageContent(b64, "image/png"))),
          new dev.langchain4j.model.chat.response.StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partial) {
              pieces.append(partial);
            }

            @Override
            public void onCompleteResponse(dev.langchain4j.model.chat.response.ChatResponse response) {
              done.complete(response.aiMessage().text());
            }

            @Override
            public void onError(Throwable error) {
              done.completeExceptionally(error);
            }
          });
      assertEquals(expected, done.get(30, TimeUnit.SECONDS));
      assertEquals(expected, pieces.toString());
    }
  }

  @Test
  void aThousandConnectionsAtOnce() throws Exception {
    // Both ends of each connection live in this JVM: 2 descriptors per connection.
    int n = (int) Math.min(1000, (openFileLimit() - 400) / 2) & ~1;
    List<RawHttp> conns = new ArrayList<>();
    try {
      for (int i = 0; i < n; i++) {
        RawHttp c = RawHttp.connect("127.0.0.1", server.port(), READ_TIMEOUT_MS);
        conns.add(c);
        cleanup.add(c);
      }
      for (int i = 0; i < n; i++) {
        conns.get(i).send(i % 2 == 0 ? HttpFuzz.get("/health") : HttpFuzz.post("/v1/chat/completions", "{bad"));
      }
      Map<Integer, Integer> statuses = new TreeMap<>();
      for (int i = 0; i < n; i++) {
        RawHttp.Response r = conns.get(i).read(false);
        statuses.merge(r.status(), 1, Integer::sum);
        if (i % 2 == 0) {
          assertEquals(200, r.status());
        } else {
          assertOpenAiError(r, 400);
        }
      }
      assertEquals(Map.of(200, n / 2, 400, n / 2), statuses);
      int threads = server.threadCount();
      assertTrue(threads <= SLOTS + QUEUE + 32, threads + " server threads");
    } finally {
      for (RawHttp c : conns) c.close();
    }
    assertServing(server);
  }

  /** This process's limit on open files (/proc/self/limits), or 4096 where unknown. */
  static long openFileLimit() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
        if (line.startsWith("Max open files")) {
          String soft = line.substring("Max open files".length()).trim().split("\\s+")[0];
          return soft.equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(soft);
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux
    }
    return 4096;
  }

  @Test
  void aSeededFuzzBurst() throws Exception {
    int clients = 4, perClient = 500;
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    try {
      List<Future<List<String>>> futures = new ArrayList<>();
      for (int w = 0; w < clients; w++) {
        HttpFuzz gen = new HttpFuzz(1000 + w, BODY_LIMIT, paint.sizeMultiple());
        futures.add(pool.submit(() -> {
          List<String> failures = new ArrayList<>();
          try (HttpFuzz.Client client = new HttpFuzz.Client("127.0.0.1", server.port(), READ_TIMEOUT_MS)) {
            for (int i = 0; i < perClient; i++) {
              Case c = gen.next();
              HttpFuzz.Result r = client.run(c);
              if (r.failure() != null) failures.add(c.kind() + ": " + r.failure());
            }
          }
          return failures;
        }));
      }
      List<String> failures = new ArrayList<>();
      for (var f : futures) failures.addAll(f.get(120, TimeUnit.SECONDS));
      if (!failures.isEmpty()) fail(failures.size() + " wrong answers, e.g. " + failures.subList(0, Math.min(8, failures.size())));
    } finally {
      pool.shutdownNow();
    }
    assertNotNull(server);
    assertServing(server);
  }
}
