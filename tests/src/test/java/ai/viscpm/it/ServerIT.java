package ai.viscpm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import ai.viscpm.paint.PaintModel;
import ai.viscpm.server.ServerOptions;
import ai.viscpm.server.VisCpmServer;
import ai.viscpm.testkit.DemoModels;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** viscpm serve over real HTTP (the JDK's client), on the demo models. */
class ServerIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static ChatModel chat;
  private static PaintModel paint;
  private static VisCpmServer server;
  private static byte[] png;
  private static Path chatDir;
  private static final String QUESTION = "What is in the picture?";
  private static final int MAX_TOKENS = 12;  // short answers keep the demo-model turns fast
  private static final GenerationConfig CONFIG = GenerationConfig.builder().maxTokens(MAX_TOKENS).build();

  @BeforeAll
  static void start() throws Exception {
    Path dir = Files.createTempDirectory("viscpm-server-it");
    DemoModels.writeChatModel(dir.resolve("chat"));
    DemoModels.writePaintModel(dir.resolve("paint"));
    chatDir = dir.resolve("chat");
    chat = ChatModel.load(chatDir);
    paint = PaintModel.load(dir.resolve("paint"));
    server = VisCpmServer.start(chat, paint, ServerOptions.defaults().withPort(0).withLimits(2, 32, 20L << 20), null);
    png = Files.readAllBytes(Fixtures.resolve("cases/chat_beam_search/image.png"));
  }

  @AfterAll
  static void stop() throws Exception {
    if (server != null) server.close();
    if (chat != null) chat.close();
    if (paint != null) paint.close();
  }

  static String base(VisCpmServer s) {
    return "http://127.0.0.1:" + s.port();
  }

  static HttpResponse<String> post(VisCpmServer s, String path, String body, String... headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base(s) + path)).POST(HttpRequest.BodyPublishers.ofString(body))
        .header("Content-Type", "application/json");
    for (int i = 0; i + 1 < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  static ObjectNode chatRequest(String question, boolean stream) {
    ObjectNode req = JSON.createObjectNode().put("model", "viscpm-chat").put("stream", stream).put("max_tokens", MAX_TOKENS);
    ObjectNode user = req.putArray("messages").addObject().put("role", "user");
    var parts = user.putArray("content");
    parts.addObject().put("type", "text").put("text", question);
    parts.addObject().put("type", "image_url").putObject("image_url")
        .put("url", "data:image/png;base64," + Base64.getEncoder().encodeToString(png));
    return req;
  }

  static String directAnswer(String question) throws Exception {
    try (ChatSession s = chat.newSession(png)) {
      return s.ask(question, CONFIG, null).text();
    }
  }

  /** The concatenated content deltas of an SSE response, checking its framing. */
  static String streamedText(String body) throws Exception {
    StringBuilder text = new StringBuilder();
    String[] events = body.split("\n\n");
    assertEquals("data: [DONE]", events[events.length - 1].trim());
    boolean finished = false;
    for (int i = 0; i < events.length - 1; i++) {
      assertTrue(events[i].startsWith("data: "), events[i]);
      JsonNode chunk = JSON.readTree(events[i].substring(6));
      assertEquals("chat.completion.chunk", chunk.path("object").asText());
      JsonNode choice = chunk.path("choices").path(0);
      text.append(choice.path("delta").path("content").asText(""));
      if (!choice.path("finish_reason").isNull() && !choice.path("finish_reason").isMissingNode()) finished = true;
    }
    assertTrue(finished, "a chunk carries the finish_reason");
    return text.toString();
  }

  @Test
  void modelsHealthAndMetrics() throws Exception {
    var models = HTTP.send(HttpRequest.newBuilder(URI.create(base(server) + "/v1/models")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, models.statusCode());
    JsonNode data = JSON.readTree(models.body()).path("data");
    assertEquals("viscpm-chat", data.path(0).path("id").asText());
    assertEquals("viscpm-paint", data.path(1).path("id").asText());
    var health = HTTP.send(HttpRequest.newBuilder(URI.create(base(server) + "/health")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, health.statusCode());
    var metrics = HTTP.send(HttpRequest.newBuilder(URI.create(base(server) + "/metrics")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertTrue(metrics.body().contains("viscpm_requests_total"), metrics.body());
  }

  @Test
  void chatNonStreamedEqualsStreamedEqualsTheJavaApi() throws Exception {
    var plain = post(server, "/v1/chat/completions", chatRequest(QUESTION, false).toString());
    assertEquals(200, plain.statusCode(), plain.body());
    JsonNode completion = JSON.readTree(plain.body());
    assertEquals("chat.completion", completion.path("object").asText());
    String text = completion.path("choices").path(0).path("message").path("content").asText();
    String reason = completion.path("choices").path(0).path("finish_reason").asText();
    assertTrue(reason.equals("stop") || reason.equals("length"), reason);
    JsonNode usage = completion.path("usage");
    try (ChatSession s = chat.newSession(png)) {
      assertEquals(s.ask(QUESTION, CONFIG, null).promptTokens(), usage.path("prompt_tokens").asInt(),
          "prompt tokens include the image placeholders: " + usage);
    }
    assertEquals(usage.path("prompt_tokens").asInt() + usage.path("completion_tokens").asInt(),
        usage.path("total_tokens").asInt());
    assertEquals(directAnswer(QUESTION), text);
    // ... and what ./viscpm chat prints for the same model, image and question.
    java.io.StringWriter cliOut = new java.io.StringWriter();
    int status = ai.viscpm.cli.Main.run(new java.io.PrintWriter(cliOut), new java.io.PrintWriter(new java.io.StringWriter()),
        "chat", "--model", chatDir.toString(), "--image", Fixtures.resolve("cases/chat_beam_search/image.png").toString(),
        "--max-tokens", String.valueOf(MAX_TOKENS), QUESTION);
    assertEquals(0, status);
    assertEquals(text + System.lineSeparator(), cliOut.toString());

    var streamed = post(server, "/v1/chat/completions", chatRequest(QUESTION, true).toString());
    assertEquals(200, streamed.statusCode());
    assertTrue(streamed.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
    assertEquals(text, streamedText(streamed.body()));
  }

  @Test
  void multiTurnContinuesTheConversation() throws Exception {
    String first, second;
    try (ChatSession s = chat.newSession(png)) {
      first = s.ask(QUESTION, CONFIG, null).text();
      second = s.ask("And the colours?", CONFIG, null).text();
    }
    ObjectNode req = chatRequest(QUESTION, false);
    var messages = (com.fasterxml.jackson.databind.node.ArrayNode) req.get("messages");
    messages.insert(0, JSON.createObjectNode().put("role", "system").put("content", "You are helpful."));
    messages.addObject().put("role", "assistant").put("content", first);
    messages.addObject().put("role", "user").put("content", "And the colours?");
    var r = post(server, "/v1/chat/completions", req.toString());
    assertEquals(200, r.statusCode(), r.body());
    assertEquals(second, JSON.readTree(r.body()).path("choices").path(0).path("message").path("content").asText());
  }

  @Test
  void imagesAreValidPngsOfTheAskedSize() throws Exception {
    ObjectNode req = JSON.createObjectNode().put("model", "viscpm-paint").put("prompt", "一只猫").put("n", 2)
        .put("size", "64x128").put("steps", 3).put("seed", 5).put("response_format", "b64_json");
    var r = post(server, "/v1/images/generations", req.toString());
    assertEquals(200, r.statusCode(), r.body());
    JsonNode data = JSON.readTree(r.body()).path("data");
    assertEquals(2, data.size());
    for (JsonNode d : data) {
      BufferedImage img = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(d.path("b64_json").asText())));
      assertEquals(64, img.getWidth());
      assertEquals(128, img.getHeight());
    }
    // Same seed, same bytes.
    assertEquals(data.path(0).path("b64_json").asText(),
        JSON.readTree(post(server, "/v1/images/generations", req.toString()).body()).path("data").path(0).path("b64_json").asText());
  }

  static void expectError(HttpResponse<String> r, int status, String code) throws Exception {
    assertEquals(status, r.statusCode(), r.body());
    JsonNode error = JSON.readTree(r.body()).path("error");
    assertFalse(error.path("message").asText().isEmpty(), r.body());
    assertTrue(error.has("type") && error.has("param") && error.has("code"), r.body());
    if (code != null) assertEquals(code, error.path("code").asText(), r.body());
  }

  @Test
  void badRequestsGetOpenAiErrorsAndTheServerKeepsServing() throws Exception {
    expectError(post(server, "/v1/chat/completions", "{not json"), 400, "invalid_value");
    expectError(post(server, "/v1/chat/completions", "[1,2]"), 400, null);
    expectError(post(server, "/v1/chat/completions", "{\"model\":\"gpt-4\",\"messages\":[]}"), 404, "model_not_found");
    expectError(post(server, "/v1/chat/completions",
        "{\"model\":\"viscpm-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"), 400, null);
    ObjectNode remote = chatRequest(QUESTION, false);
    ((ObjectNode) remote.get("messages").get(0).get("content").get(1).get("image_url")).put("url", "https://example.com/cat.png");
    expectError(post(server, "/v1/chat/completions", remote.toString()), 400, null);
    ObjectNode corrupt = chatRequest(QUESTION, false);
    ((ObjectNode) corrupt.get("messages").get(0).get("content").get(1).get("image_url"))
        .put("url", "data:image/png;base64," + Base64.getEncoder().encodeToString("not a png".getBytes()));
    expectError(post(server, "/v1/chat/completions", corrupt.toString()), 400, null);
    expectError(post(server, "/v1/images/generations", "{\"prompt\":\"cat\",\"size\":\"65x64\"}"), 400, null);
    expectError(post(server, "/v1/images/generations", "{\"prompt\":\"cat\",\"response_format\":\"url\"}"), 400, null);
    expectError(post(server, "/v1/nowhere", "{}"), 404, "unknown_url");
    // Still serving.
    assertEquals(200, post(server, "/v1/chat/completions", chatRequest(QUESTION, false).toString()).statusCode());
  }

  @Test
  void apiKeyBodyLimitAndQueueLimit() throws Exception {
    try (VisCpmServer guarded = VisCpmServer.start(chat, paint,
        ServerOptions.defaults().withPort(0).withApiKey("s3cret").withLimits(1, 0, 512), null)) {
      String body = chatRequest(QUESTION, false).toString();
      expectError(post(guarded, "/v1/models", "{}"), 401, "invalid_api_key");
      var models = HTTP.send(HttpRequest.newBuilder(URI.create(base(guarded) + "/v1/models"))
          .header("Authorization", "Bearer wrong").build(), HttpResponse.BodyHandlers.ofString());
      expectError(models, 401, "invalid_api_key");
      expectError(post(guarded, "/v1/chat/completions", body, "Authorization", "Bearer s3cret"), 413, "request_too_large");

      // One slot, no queue: a long paint holds the slot, a second request is refused.
      String slow = "{\"prompt\":\"cat\",\"size\":\"64x64\",\"steps\":300,\"seed\":1}";
      CompletableFuture<HttpResponse<String>> first = HTTP.sendAsync(
          HttpRequest.newBuilder(URI.create(base(guarded) + "/v1/images/generations"))
              .header("Authorization", "Bearer s3cret").POST(HttpRequest.BodyPublishers.ofString(slow)).build(),
          HttpResponse.BodyHandlers.ofString());
      Thread.sleep(300);
      expectError(post(guarded, "/v1/images/generations", slow, "Authorization", "Bearer s3cret"), 429, "queue_full");
      assertEquals(200, first.get().statusCode());
    }
  }

  @Test
  void sixteenParallelRequestsAllGetTheRightAnswer() throws Exception {
    String expected = directAnswer(QUESTION);
    String body = chatRequest(QUESTION, false).toString();
    List<CompletableFuture<HttpResponse<String>>> futures = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      futures.add(HTTP.sendAsync(HttpRequest.newBuilder(URI.create(base(server) + "/v1/chat/completions"))
          .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()));
    }
    for (var f : futures) {
      HttpResponse<String> r = f.get();
      assertEquals(200, r.statusCode(), r.body());
      assertEquals(expected, JSON.readTree(r.body()).path("choices").path(0).path("message").path("content").asText());
    }
  }

  @Test
  void aClientThatDisconnectsMidStreamFreesItsSlot() throws Exception {
    try (VisCpmServer single = VisCpmServer.start(chat, null, ServerOptions.defaults().withPort(0).withLimits(1, 0, 20L << 20), null)) {
      ObjectNode req = chatRequest(QUESTION, true).put("temperature", 1.0).put("seed", 3).put("max_tokens", 2000);
      byte[] body = req.toString().getBytes(StandardCharsets.UTF_8);
      try (Socket socket = new Socket("127.0.0.1", single.port())) {
        OutputStream out = socket.getOutputStream();
        out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
            + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(body);
        out.flush();
        InputStream in = socket.getInputStream();
        byte[] buf = new byte[4096];
        int seen = 0;
        while (seen < 2000) {  // a few events have arrived: the generation is running
          int n = in.read(buf);
          if (n < 0) break;
          seen += n;
        }
      }  // disconnect
      // The slot comes back once the server notices (its next write fails).
      HttpResponse<String> after = null;
      for (int attempt = 0; attempt < 100; attempt++) {
        after = post(single, "/v1/chat/completions", chatRequest(QUESTION, false).toString());
        if (after.statusCode() != 429) break;
        Thread.sleep(100);
      }
      assertEquals(200, after.statusCode(), after.body());
    }
  }
}
