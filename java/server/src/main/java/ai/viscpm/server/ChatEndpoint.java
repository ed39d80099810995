package ai.viscpm.server;

import ai.viscpm.CancelledException;
import ai.viscpm.VisCpmException;
import ai.viscpm.chat.ChatAnswer;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.chat.ChatSession;
import ai.viscpm.chat.GenerationConfig;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
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
  private final Set<SseStream> streams;

  ChatEndpoint(ChatModel model, VisCpmServer.Metrics metrics, Set<SseStream> streams) {
    this.model = model;
    this.metrics = metrics;
    this.streams = streams;
  }

  /** The parsed request. */
  record Request(byte[] image, List<ChatSession.Exchange> history, String question, GenerationConfig config,
      boolean stream, boolean includeUsage) {}

  /** The largest max_tokens: the KV cache is sized for the whole answer up front. */
  static final int MAX_TOKENS_LIMIT = 4096;

  static Request parse(JsonNode body) throws ApiError {
    String modelId = Fields.string(body, "model", "model");
    if (modelId == null) throw ApiError.badRequest("model", "'model' is required");
    if (!VisCpmServer.CHAT_MODEL_ID.equals(modelId))
      throw ApiError.notFound("model_not_found", "unknown model '" + clip(modelId) + "'; this server has '"
          + VisCpmServer.CHAT_MODEL_ID + "' for chat");
    JsonNode messages = body.get("messages");
    if (messages == null || !messages.isArray() || messages.isEmpty())
      throw ApiError.badRequest("messages", "messages must be a non-empty array");
    Long n = Fields.integer(body, "n", "n", Long.MIN_VALUE, Long.MAX_VALUE);
    if (n != null && n != 1) throw ApiError.badRequest("n", "only n = 1 is supported, got " + n);

    byte[] image = null;
    List<ChatSession.Exchange> history = new ArrayList<>();
    String pendingQuestion = null;
    boolean firstUser = true;
    for (int i = 0; i < messages.size(); i++) {
      JsonNode m = messages.get(i);
      String param = "messages[" + i + "]";
      if (!m.isObject()) throw ApiError.badRequest(param, "each message must be an object, got " + Fields.kind(m));
      String role = Fields.string(m, "role", param + ".role");
      if (role == null) throw ApiError.badRequest(param + ".role", "each message needs a 'role'");
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
              String partParam = param + ".content[" + k + "]";
              if (!part.isObject()) throw ApiError.badRequest(partParam, "each content part must be an object, got " + Fields.kind(part));
              String type = Fields.string(part, "type", partParam + ".type");
              if ("text".equals(type)) {
                String t = Fields.string(part, "text", partParam + ".text");
                if (t == null) throw ApiError.badRequest(partParam + ".text", "a text part needs a 'text' string");
                text.append(t);
              } else if ("image_url".equals(type)) {
                if (!firstUser || image != null)
                  throw ApiError.badRequest(partParam,
                      "VisCPM-Chat talks about one image per conversation: put it in the first user message");
                JsonNode imageUrl = part.get("image_url");
                if (imageUrl == null || !imageUrl.isObject())
                  throw ApiError.badRequest(partParam + ".image_url", "an image_url part needs an 'image_url' object with a 'url'");
                String url = Fields.string(imageUrl, "url", partParam + ".image_url.url");
                if (url == null) throw ApiError.badRequest(partParam + ".image_url.url", "the image_url needs a 'url'");
                image = decodeDataUrl(url, partParam + ".image_url.url");
              } else {
                throw ApiError.badRequest(partParam + ".type", type == null ? "each content part needs a 'type'"
                    : "unsupported content part type '" + clip(type) + "' (text or image_url)");
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
          history.add(new ChatSession.Exchange(pendingQuestion, assistantText(m.get("content"), param + ".content")));
          pendingQuestion = null;
        }
        default -> throw ApiError.badRequest(param + ".role", "unknown role '" + clip(role)
            + "' (system, developer, user or assistant)");
      }
    }
    if (pendingQuestion == null) throw ApiError.badRequest("messages", "the last message must be the user's question");
    if (image == null)
      throw ApiError.badRequest("messages", "VisCPM-Chat needs an image: add an image_url part with a data: URL to the "
          + "first user message");

    GenerationConfig.Builder config = GenerationConfig.builder();
    Long maxTokens = Fields.integer(body, "max_tokens", "max_tokens", 1, MAX_TOKENS_LIMIT);
    Long maxCompletionTokens = Fields.integer(body, "max_completion_tokens", "max_completion_tokens", 1, MAX_TOKENS_LIMIT);
    if (maxTokens == null) maxTokens = maxCompletionTokens;
    if (maxTokens != null) config.maxTokens(maxTokens.intValue());  // a hard cap, OpenAI's meaning
    Double temperature = Fields.number(body, "temperature", "temperature", 0, 2);
    Double topP = Fields.number(body, "top_p", "top_p", 0, 1);
    if (topP != null && topP == 0) throw ApiError.badRequest("top_p", "'top_p' must be in (0, 1], got 0");
    Long seed = Fields.integer(body, "seed", "seed", Long.MIN_VALUE, Long.MAX_VALUE);
    if (temperature != null && temperature == 0) {
      config.greedy();  // OpenAI's temperature 0: the most likely token at each step
    } else if (temperature != null || topP != null) {
      config.sampling(0, topP == null ? 1f : topP.floatValue(), seed != null ? seed : System.nanoTime())
          .temperature(temperature == null ? 1f : temperature.floatValue());
    }
    boolean stream = Fields.bool(body, "stream", "stream", false);
    boolean usage = false;
    JsonNode streamOptions = body.get("stream_options");
    if (streamOptions != null && !streamOptions.isNull()) {
      if (!streamOptions.isObject())
        throw ApiError.badRequest("stream_options", "'stream_options' must be an object, got " + Fields.kind(streamOptions));
      usage = Fields.bool(streamOptions, "include_usage", "stream_options.include_usage", false);
    }
    GenerationConfig built;
    try {
      built = config.build();
    } catch (IllegalArgumentException e) {
      throw ApiError.badRequest("max_tokens", e.getMessage());
    }
    return new Request(image, history, pendingQuestion, built, stream, usage);
  }

  /** An assistant message's text: a string, null, or an array of text (or refusal) parts. */
  private static String assistantText(JsonNode content, String param) throws ApiError {
    if (content == null || content.isNull()) return "";
    if (content.isTextual()) return content.asText();
    if (!content.isArray()) throw ApiError.badRequest(param, "content must be a string or an array of text parts");
    StringBuilder text = new StringBuilder();
    for (int k = 0; k < content.size(); k++) {
      JsonNode part = content.get(k);
      String partParam = param + "[" + k + "]";
      if (!part.isObject()) throw ApiError.badRequest(partParam, "each content part must be an object, got " + Fields.kind(part));
      String type = Fields.string(part, "type", partParam + ".type");
      String field = "refusal".equals(type) ? "refusal" : "text";
      if (!"text".equals(type) && !"refusal".equals(type))
        throw ApiError.badRequest(partParam + ".type", "an assistant message holds text or refusal parts");
      String t = Fields.string(part, field, partParam + "." + field);
      if (t != null) text.append(t);
    }
    return text.toString();
  }

  /** At most 64 characters of a client's string, for messages. */
  static String clip(String s) {
    return s.length() <= 64 ? s : s.substring(0, 64) + "...";
  }

  void handle(JsonNode body, Call call, VisCpmServer.Outcome outcome) throws ApiError, VisCpmException, IOException,
      Call.Gone {
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
        call.sendJson(200, root);
        return;
      }
      // Server-sent events: role chunk, content chunks as the text becomes final, the finish chunk.
      ChatAnswer answer;
      try (SseStream events = new SseStream(call.startEventStream(), streams)) {
        // A failed write (the client went away or stopped reading) cancels the generation and frees the slot,
        // from the listener or from the keep-alive thread.
        events.onBroken(session::cancel);
        events.event(json(chunk(id, created).set("choices", choices(VisCpmServer.JSON.createObjectNode().put("role", "assistant")
            .put("content", ""), null))));
        try {
          answer = session.ask(r.question(), r.config(), text -> {
            try {
              events.event(json(chunk(id, created).set("choices",
                  choices(VisCpmServer.JSON.createObjectNode().put("content", text), null))));
              return true;
            } catch (IOException e) {
              return false;
            }
          });
        } catch (CancelledException e) {
          if (events.broken() != null) throw new Call.Gone(499, "the client went away mid-stream", events.broken());
          throw e;
        }
      }
      record(answer, outcome);
      OutputStream out = call.exchange.getResponseBody();
      StringBuilder tail = new StringBuilder();
      tail.append("data: ").append(json(chunk(id, created).set("choices", choices(VisCpmServer.JSON.createObjectNode(),
          answer.endedWithEos() ? "stop" : "length")))).append("\n\n");
      if (r.includeUsage()) {
        ObjectNode last = chunk(id, created);
        last.putArray("choices");
        usage(last.putObject("usage"), answer);
        tail.append("data: ").append(json(last)).append("\n\n");
      }
      tail.append("data: [DONE]\n\n");
      out.write(tail.toString().getBytes(StandardCharsets.UTF_8));
      out.close();
    }
  }

  private static String json(Object node) throws IOException {
    return VisCpmServer.JSON.writeValueAsString(node);
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

  static byte[] decodeDataUrl(String url, String param) throws ApiError {
    try {
      return ai.viscpm.DataUrls.decode(url);
    } catch (ai.viscpm.InvalidInputException e) {
      throw ApiError.badRequest(param, e.getMessage());
    }
  }
}
