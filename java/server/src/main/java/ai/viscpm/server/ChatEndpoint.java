package ai.viscpm.server;

import ai.viscpm.CancelledException;
import ai.viscpm.VisCpmException;
import ai.viscpm.chat.ChatAnswer;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * POST /v1/chat/completions. The image of the first user message is the conversation's
 * image (VisCPM-Chat holds one); earlier user/assistant pairs become the session's history;
 * the last user message is the question. Beam search (the reference's decoder) unless
 * temperature or top_p asks for sampling; max_tokens caps the answer's tokens (OpenAI's meaning, at
 * least 2 for beam search: see GenerationConfig.Builder#maxTokens). System
 * messages are not part of VisCPM's prompt format and are ignored.
 */
final class ChatEndpoint {
  private final ChatModel model;
  private final VisCpmServer.Metrics metrics;

  ChatEndpoint(ChatModel model, VisCpmServer.Metrics metrics) {
    this.model = model;
    this.metrics = metrics;
  }

  /** The parsed request. */
  record Request(byte[] image, List<ChatSession.Exchange> history, String question, GenerationConfig config,
      boolean stream, boolean includeUsage) {}

  static Request parse(JsonNode body) throws ApiError {
    String modelId = text(body, "model", true);
    if (!VisCpmServer.CHAT_MODEL_ID.equals(modelId))
      throw ApiError.notFound("model_not_found", "unknown model '" + modelId + "'; this server has '"
          + VisCpmServer.CHAT_MODEL_ID + "' for chat");
    JsonNode messages = body.get("messages");
    if (messages == null || !messages.isArray() || messages.isEmpty())
      throw ApiError.badRequest("messages", "messages must be a non-empty array");
    if (body.hasNonNull("n") && body.get("n").asInt(-1) != 1) throw ApiError.badRequest("n", "only n = 1 is supported");

    byte[] image = null;
    List<ChatSession.Exchange> history = new ArrayList<>();
    String pendingQuestion = null;
    boolean firstUser = true;
    for (int i = 0; i < messages.size(); i++) {
      JsonNode m = messages.get(i);
      String param = "messages[" + i + "]";
      if (!m.isObject()) throw ApiError.badRequest(param, "each message must be an object");
      String role = m.path("role").asText("");
      switch (role) {
        case "system", "developer" -> { }
        case "user" -> {
          if (pendingQuestion != null)
            throw ApiError.badRequest(param, "two user messages in a row: an assistant message must answer " + "messages before it");
          StringBuilder text = new StringBuilder();
          JsonNode content = m.get("content");
          if (content != null && content.isTextual()) {
            text.append(content.asText());
          } else if (content != null && content.isArray()) {
            for (int k = 0; k < content.size(); k++) {
              JsonNode part = content.get(k);
              String type = part.path("type").asText("");
              if (type.equals("text")) {
                text.append(part.path("text").asText(""));
              } else if (type.equals("image_url")) {
                if (!firstUser || image != null)
                  throw ApiError.badRequest(param + ".content[" + k + "]",
                      "VisCPM-Chat talks about one image per conversation: put it in the first user message");
                image = decodeDataUrl(part.path("image_url").path("url").asText(""), param + ".content[" + k + "]");
              } else {
                throw ApiError.badRequest(param + ".content[" + k + "]", "unsupported content part type '" + type + "'");
              }
            }
          } else {
            throw ApiError.badRequest(param + ".content", "content must be a string or an array of parts");
          }
          pendingQuestion = text.toString();
          firstUser = false;
        }
        case "assistant" -> {
          if (pendingQuestion == null) throw ApiError.badRequest(param, "an assistant message must follow a user message");
          history.add(new ChatSession.Exchange(pendingQuestion, m.path("content").asText("")));
          pendingQuestion = null;
        }
        default -> throw ApiError.badRequest(param + ".role", "unknown role '" + role + "'");
      }
    }
    if (pendingQuestion == null) throw ApiError.badRequest("messages", "the last message must be the user's question");
    if (image == null)
      throw ApiError.badRequest("messages", "VisCPM-Chat needs an image: add an image_url part with a data: URL to the "
          + "first user message");

    GenerationConfig.Builder config = GenerationConfig.builder();
    if (body.hasNonNull("max_tokens") || body.hasNonNull("max_completion_tokens")) {
      JsonNode n = body.hasNonNull("max_tokens") ? body.get("max_tokens") : body.get("max_completion_tokens");
      if (!n.canConvertToInt() || n.asInt() < 1) throw ApiError.badRequest("max_tokens", "max_tokens must be a positive integer");
      config.maxTokens(n.asInt());
    }
    boolean sampling = body.hasNonNull("temperature") || body.hasNonNull("top_p");
    if (sampling) {
      double temperature = number(body, "temperature", 1.0);
      double topP = number(body, "top_p", 1.0);
      if (!(temperature > 0)) throw ApiError.badRequest("temperature", "temperature must be > 0");
      if (!(topP > 0 && topP <= 1)) throw ApiError.badRequest("top_p", "top_p must be in (0, 1]");
      long seed = body.hasNonNull("seed") ? body.get("seed").asLong() : System.nanoTime();
      config.sampling(0, (float) topP, seed).temperature((float) temperature);
    }
    boolean stream = body.path("stream").asBoolean(false);
    boolean usage = body.path("stream_options").path("include_usage").asBoolean(false);
    GenerationConfig built;
    try {
      built = config.build();
    } catch (IllegalArgumentException e) {
      throw ApiError.badRequest("max_tokens", e.getMessage());
    }
    return new Request(image, history, pendingQuestion, built, stream, usage);
  }

  void handle(JsonNode body, HttpExchange exchange, VisCpmServer.Outcome outcome) throws ApiError, VisCpmException,
      IOException {
    Request r = parse(body);
    String id = "chatcmpl-" + UUID.randomUUID();
    long created = System.currentTimeMillis() / 1000;
    try (ChatSession session = model.newSession(r.image())) {
      if (!r.history().isEmpty()) session.restoreHistory(r.history());
      if (!r.stream()) {
        ChatAnswer answer = session.ask(r.question(), r.config(), null);
        record(answer, outcome);
        ObjectNode root = VisCpmServer.JSON.createObjectNode();
        root.put("id", id).put("object", "chat.completion").put("created", created).put("model", VisCpmServer.CHAT_MODEL_ID);
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        choice.putObject("message").put("role", "assistant").put("content", answer.text()).putNull("refusal");
        choice.putNull("logprobs");
        choice.put("finish_reason", answer.endedWithEos() ? "stop" : "length");
        usage(root.putObject("usage"), answer);
        VisCpmServer.sendJson(exchange, 200, root);
        return;
      }
      // Server-sent events: role chunk, content chunks as the text becomes final, the finish chunk.
      exchange.getResponseHeaders().set("Content-Type", "text/event-stream");
      exchange.getResponseHeaders().set("Cache-Control", "no-cache");
      exchange.sendResponseHeaders(200, 0);
      OutputStream out = exchange.getResponseBody();
      IOException[] broken = {null};
      send(out, chunk(id, created).set("choices", choices(VisCpmServer.JSON.createObjectNode().put("role", "assistant")
          .put("content", ""), null)));
      ChatAnswer answer;
      try {
        answer = session.ask(r.question(), r.config(), text -> {
          try {
            send(out, chunk(id, created).set("choices", choices(VisCpmServer.JSON.createObjectNode().put("content", text), null)));
            return true;
          } catch (IOException e) {
            broken[0] = e;
            return false;  // the client went away: cancel the generation, free the slot
          }
        });
      } catch (CancelledException e) {
        if (broken[0] != null) throw broken[0];
        throw e;
      }
      record(answer, outcome);
      send(out, chunk(id, created).set("choices", choices(VisCpmServer.JSON.createObjectNode(),
          answer.endedWithEos() ? "stop" : "length")));
      if (r.includeUsage()) {
        ObjectNode last = chunk(id, created);
        last.putArray("choices");
        usage(last.putObject("usage"), answer);
        send(out, last);
      }
      out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
      out.flush();
    }
  }

  private void record(ChatAnswer answer, VisCpmServer.Outcome outcome) {
    outcome.tokens = answer.tokenIds().length;
    metrics.completionTokens.addAndGet(answer.tokenIds().length);
    metrics.generationNanos.addAndGet((long) (answer.seconds() * 1e9));
    if (!Double.isNaN(answer.secondsToFirstText())) {
      metrics.firstTokenNanos.addAndGet((long) (answer.secondsToFirstText() * 1e9));
      metrics.firstTokenCount.incrementAndGet();
    }
  }

  private static void usage(ObjectNode usage, ChatAnswer answer) {
    int completion = answer.tokenIds().length;
    usage.put("prompt_tokens", answer.promptTokens()).put("completion_tokens", completion)
        .put("total_tokens", answer.promptTokens() + completion);
  }

  private static ObjectNode chunk(String id, long created) {
    return VisCpmServer.JSON.createObjectNode().put("id", id).put("object", "chat.completion.chunk").put("created", created)
        .put("model", VisCpmServer.CHAT_MODEL_ID);
  }

  private static com.fasterxml.jackson.databind.node.ArrayNode choices(ObjectNode delta, String finishReason) {
    var array = VisCpmServer.JSON.createArrayNode();
    ObjectNode c = array.addObject().put("index", 0);
    c.set("delta", delta);
    c.putNull("logprobs");
    if (finishReason == null) c.putNull("finish_reason"); else c.put("finish_reason", finishReason);
    return array;
  }

  private static void send(OutputStream out, ObjectNode event) throws IOException {
    out.write(("data: " + VisCpmServer.JSON.writeValueAsString(event) + "\n\n").getBytes(StandardCharsets.UTF_8));
    out.flush();
  }

  static byte[] decodeDataUrl(String url, String param) throws ApiError {
    try {
      return ai.viscpm.DataUrls.decode(url);
    } catch (ai.viscpm.InvalidInputException e) {
      throw ApiError.badRequest(param, e.getMessage());
    }
  }

  private static String text(JsonNode body, String field, boolean required) throws ApiError {
    JsonNode n = body.get(field);
    if (n == null || n.isNull()) {
      if (required) throw ApiError.badRequest(field, "'" + field + "' is required");
      return null;
    }
    if (!n.isTextual()) throw ApiError.badRequest(field, "'" + field + "' must be a string");
    return n.asText();
  }

  private static double number(JsonNode body, String field, double fallback) throws ApiError {
    JsonNode n = body.get(field);
    if (n == null || n.isNull()) return fallback;
    if (!n.isNumber()) throw ApiError.badRequest(field, "'" + field + "' must be a number");
    return n.asDouble();
  }
}
