package ai.viscpm.server;

import ai.viscpm.CancelledException;
import ai.viscpm.FormatException;
import ai.viscpm.InvalidInputException;
import ai.viscpm.NativeOutOfMemoryException;
import ai.viscpm.VisCpmException;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.paint.PaintModel;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An OpenAI-compatible HTTP server over loaded VisCPM models: {@code GET /v1/models},
 * {@code POST /v1/chat/completions} (also streamed as server-sent events), {@code POST
 * /v1/images/generations}, {@code GET /health}, {@code GET /metrics}. Generations run on at
 * most {@link ServerOptions#generationSlots()} threads at once; up to {@link
 * ServerOptions#maxQueue()} more wait, the rest get 429. Every failure is answered in
 * OpenAI's error shape and the server keeps serving. {@link #close()} stops accepting and
 * waits for running requests.
 *
 * <p>Slow and broken clients: every socket read and write of a request's body and response
 * has a deadline ({@link ServerOptions#requestTimeout()}, {@link ServerOptions#writeTimeout()};
 * see {@link Call}); a streamed answer whose client went away is cancelled within about two
 * {@link ServerOptions#streamKeepAlive()} intervals. The request line and headers are read by
 * the JDK before any handler runs; their only bound is the JDK's {@code
 * sun.net.httpserver.maxReqTime} (seconds, JVM-wide, read when the first HttpServer is
 * created), which this class sets to {@value #DEFAULT_MAX_REQ_TIME_SECONDS} unless it is set
 * already ({@code -Dsun.net.httpserver.maxReqTime=N}). Connections are served by {@code
 * generationSlots + maxQueue + }{@value #CONNECTION_THREADS} threads: a generation holds one
 * while it runs or waits in the queue, so at least {@value #CONNECTION_THREADS} are left for
 * reading requests and cheap answers. Idle keep-alive connections are closed after the JDK's
 * {@code sun.net.httpserver.idleInterval} (30 s). Malformed HTTP (a bad request line, header
 * or Content-Length) is refused by the JDK itself with its own 400 (an HTML body), before a
 * handler could answer in OpenAI's shape.
 *
 * <p>The models stay owned by the caller; they must outlive the server.
 */
public final class VisCpmServer implements AutoCloseable {
  /** Jackson's default read constraints (nesting depth 500, numbers of 1000 digits, ...) refuse hostile JSON. */
  static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  static final int CONNECTION_THREADS = 32;
  static final int BACKLOG = 1024;
  static final long DEFAULT_MAX_REQ_TIME_SECONDS = 60;

  static {
    // Both are read once, when the JVM's first HttpServer is created; -D settings win.
    // The JDK writes response headers and body separately: with Nagle's algorithm the body then waits for the
    // client's delayed ACK of the headers, 40 ms on Linux, on every response of a kept-alive connection (and
    // every server-sent event after the first).
    if (System.getProperty("sun.net.httpserver.nodelay") == null) System.setProperty("sun.net.httpserver.nodelay", "true");
    // The only bound on reading a request line and headers (the JDK's default: none).
    if (System.getProperty("sun.net.httpserver.maxReqTime") == null)
      System.setProperty("sun.net.httpserver.maxReqTime", String.valueOf(DEFAULT_MAX_REQ_TIME_SECONDS));
  }

  public static final String CHAT_MODEL_ID = "viscpm-chat";
  public static final String PAINT_MODEL_ID = "viscpm-paint";

  private final ServerOptions options;
  private final ChatModel chat;
  private final PaintModel paint;
  private final HttpServer http;
  private final ExecutorService executor;
  private final Semaphore slots;
  private final AtomicInteger waiting = new AtomicInteger();
  private final AtomicInteger active = new AtomicInteger();
  private final PrintStream log;
  private final IoWatchdog watchdog = new IoWatchdog("viscpm-http-deadlines");
  private final Set<SseStream> streams = ConcurrentHashMap.newKeySet();
  private final Thread keepAlive;
  final Metrics metrics = new Metrics();
  private volatile boolean closing;
  private volatile boolean stopped;

  /** Counters of /metrics. */
  static final class Metrics {
    final AtomicLong requests = new AtomicLong(), errors = new AtomicLong(), completionTokens = new AtomicLong();
    final AtomicLong generationNanos = new AtomicLong(), firstTokenNanos = new AtomicLong(), firstTokenCount = new AtomicLong();
  }

  /**
   * Binds and starts serving. Either model may be null (its endpoints then answer 404).
   *
   * @param log one line per request (method, path, status, milliseconds, tokens); null: none
   */
  public static VisCpmServer start(ChatModel chat, PaintModel paint, ServerOptions options, PrintStream log)
      throws IOException {
    if (chat == null && paint == null) throw new IllegalArgumentException("give a chat model, a paint model or both");
    return new VisCpmServer(chat, paint, options, log);
  }

  private VisCpmServer(ChatModel chat, PaintModel paint, ServerOptions options, PrintStream log) throws IOException {
    this.options = options;
    this.chat = chat;
    this.paint = paint;
    this.log = log;
    this.slots = new Semaphore(options.generationSlots(), true);
    try {
      this.http = HttpServer.create(new InetSocketAddress(options.host(), options.port()), BACKLOG);
    } catch (IOException | RuntimeException e) {
      watchdog.close();
      throw e;
    }
    // Slots + queue (generations hold their thread) + threads for reading requests and cheap answers.
    this.executor = Executors.newFixedThreadPool(options.generationSlots() + options.maxQueue() + CONNECTION_THREADS, r -> {
      Thread t = new Thread(r, "viscpm-http");
      t.setDaemon(true);
      return t;
    });
    http.setExecutor(executor);
    http.createContext("/", this::handle);
    keepAlive = new Thread(this::keepAliveLoop, "viscpm-sse-keep-alive");
    keepAlive.setDaemon(true);
    keepAlive.start();
    http.start();
  }

  /** Threads serving connections (tests check that a flood of connections does not grow it). */
  public int threadCount() {
    return ((java.util.concurrent.ThreadPoolExecutor) executor).getPoolSize();
  }

  private void keepAliveLoop() {
    long quiet = options.streamKeepAlive().toNanos();
    long tick = Math.max(TimeUnit.MILLISECONDS.toNanos(10), Math.min(quiet / 4, TimeUnit.SECONDS.toNanos(1)));
    while (!stopped) {
      try {
        TimeUnit.NANOSECONDS.sleep(tick);
      } catch (InterruptedException e) {
        continue;  // close() sets stopped first
      }
      long now = System.nanoTime();
      for (SseStream s : streams) s.keepAlive(now, quiet);
    }
  }

  /** The bound port (useful with port 0). */
  public int port() {
    return http.getAddress().getPort();
  }

  public ServerOptions options() {
    return options;
  }

  /** Requests waiting for a generation slot. */
  public int queueLength() {
    return waiting.get();
  }

  /** Refuses new requests (503), lets running ones finish (up to 60 s), then stops. */
  @Override
  public void close() {
    if (closing) return;
    closing = true;
    // Running requests finish (up to 60 s); idle keep-alive connections do not hold us up.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (active.get() > 0 && System.nanoTime() < deadline) {
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    http.stop(0);
    stopped = true;
    keepAlive.interrupt();
    watchdog.close();
    executor.shutdown();
    try {
      executor.awaitTermination(60, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  // ---------------------------------------------------------------------------------------

  /** What a handler tells the request log. */
  static final class Outcome {
    int status = 200;
    long tokens;
  }

  private void handle(HttpExchange exchange) throws IOException {
    long start = System.nanoTime();
    Outcome outcome = new Outcome();
    metrics.requests.incrementAndGet();
    active.incrementAndGet();
    Call call = null;
    boolean clean = false;
    try {
      call = new Call(exchange, watchdog.newDeadline(), options, start);
      try {
        if (closing) throw new ApiError(503, "server_error", "shutting_down", null, "the server is shutting down");
        authorize(exchange);
        route(call, outcome);
      } catch (ApiError e) {
        outcome.status = e.status;
        sendError(call, e);
      } catch (Call.Gone e) {
        outcome.status = e.status;  // the client hung up or was too slow: nothing to answer
      } catch (CancelledException e) {
        outcome.status = 499;
      } catch (InvalidInputException | FormatException | NativeOutOfMemoryException e) {  // the request asked too much
        outcome.status = 400;
        sendError(call, ApiError.badRequest(null, e.getMessage()));
      } catch (VisCpmException e) {
        outcome.status = 500;
        sendError(call, new ApiError(500, "server_error", e.code().name().toLowerCase(Locale.ROOT), null, e.getMessage()));
      } catch (IOException e) {
        if (call.clientGone()) {
          outcome.status = 499;  // the connection broke while we wrote
        } else {
          outcome.status = 500;
          sendError(call, new ApiError(500, "server_error", "internal_error", null, String.valueOf(e)));
        }
      } catch (Throwable e) {  // a bug, or out of memory: answer it and keep serving
        outcome.status = 500;
        sendError(call, new ApiError(500, "server_error", "internal_error", null, String.valueOf(e)));
      }
    } catch (Throwable e) {  // not even a Call: nothing to answer on
      outcome.status = 500;
    } finally {
      try {
        clean = call != null && call.finish();
      } catch (Throwable ignored) {
        // the connection is gone
      }
      active.decrementAndGet();
      if (outcome.status >= 400) metrics.errors.incrementAndGet();
      if (log != null) {
        log.printf(Locale.ROOT, "%s %s %d %.1f ms%s%n", exchange.getRequestMethod(), exchange.getRequestURI().getRawPath(),
            outcome.status, (System.nanoTime() - start) / 1e6, outcome.tokens > 0 ? " " + outcome.tokens + " tokens" : "");
      }
    }
    // A broken connection: only an exception out of the handler makes the JDK drop it from its connection sets
    // (closing the exchange closes the socket but keeps the connection object there for good).
    if (!clean) throw new IOException("connection closed after " + outcome.status);
  }

  private void route(Call call, Outcome outcome) throws Exception {
    HttpExchange exchange = call.exchange;
    String method = exchange.getRequestMethod();
    String path = exchange.getRequestURI().getPath();
    if (path == null) path = "";
    switch (path) {
      case "/health" -> {
        requireMethod(method, "GET");
        call.sendJson(200, JSON.createObjectNode().put("status", "ok"));
      }
      case "/metrics" -> {
        requireMethod(method, "GET");
        call.send(200, "text/plain; version=0.0.4", metricsText());
      }
      case "/v1/models" -> {
        requireMethod(method, "GET");
        call.sendJson(200, modelsList());
      }
      case "/v1/chat/completions" -> {
        requireMethod(method, "POST");
        if (chat == null) throw ApiError.notFound("model_not_found", "this server has no chat model (start it with --chat-model)");
        ObjectNode body = readJson(call);
        withSlot(() -> new ChatEndpoint(chat, metrics, streams).handle(body, call, outcome));
      }
      case "/v1/images/generations" -> {
        requireMethod(method, "POST");
        if (paint == null) throw ApiError.notFound("model_not_found", "this server has no paint model (start it with --paint-model)");
        ObjectNode body = readJson(call);
        withSlot(() -> new ImagesEndpoint(paint).handle(body, call, outcome));
      }
      default -> throw ApiError.notFound("unknown_url", "unknown path " + ChatEndpoint.clip(path));
    }
  }

  @FunctionalInterface
  interface Work {
    void run() throws Exception;
  }

  /** Runs `work` in a generation slot, waiting in the bounded queue; 429 when it is full. */
  private void withSlot(Work work) throws Exception {
    if (!slots.tryAcquire()) {
      if (waiting.incrementAndGet() > options.maxQueue()) {
        waiting.decrementAndGet();
        throw new ApiError(429, "rate_limit_error", "queue_full",
            null, "all " + options.generationSlots() + " generation slots are busy and " + options.maxQueue()
                + " requests are waiting; retry later");
      }
      try {
        slots.acquire();
      } finally {
        waiting.decrementAndGet();
      }
    }
    try {
      work.run();
    } finally {
      slots.release();
    }
  }

  private void authorize(HttpExchange exchange) throws ApiError {
    if (options.apiKey().isEmpty()) return;
    String header = exchange.getRequestHeaders().getFirst("Authorization");
    String expected = "Bearer " + options.apiKey().get();
    if (header == null || !MessageDigest.isEqual(header.getBytes(StandardCharsets.UTF_8),
        expected.getBytes(StandardCharsets.UTF_8))) {
      throw new ApiError(401, "invalid_request_error", "invalid_api_key", null,
          header == null ? "missing Authorization: Bearer <key> header" : "incorrect API key");
    }
  }

  private static void requireMethod(String method, String expected) throws ApiError {
    if (!method.equals(expected))
      throw new ApiError(405, "invalid_request_error", "method_not_allowed", null, "use " + expected);
  }

  private ObjectNode readJson(Call call) throws ApiError, Call.Gone {
    byte[] body = call.readBody(options.maxBodyBytes(), tooLarge());
    try {
      var node = JSON.readTree(body);
      if (node == null || !node.isObject())
        throw ApiError.badRequest(null, "the request body must be a JSON object" + contentTypeHint(call));
      return (ObjectNode) node;
    } catch (JsonProcessingException e) {
      throw ApiError.badRequest(null, "the request body is not valid JSON: " + e.getOriginalMessage() + contentTypeHint(call));
    } catch (IOException e) {
      throw ApiError.badRequest(null, "the request body is not valid JSON: " + e.getMessage());
    }
  }

  /** Any Content-Type is read as JSON (clients often leave it out); a wrong one is named when that fails. */
  private static String contentTypeHint(Call call) {
    String type = call.exchange.getRequestHeaders().getFirst("Content-Type");
    if (type == null || type.toLowerCase(Locale.ROOT).startsWith("application/json")) return "";
    return " (Content-Type was '" + ChatEndpoint.clip(type) + "'; send application/json)";
  }

  private ApiError tooLarge() {
    return new ApiError(413, "invalid_request_error", "request_too_large", null,
        "request body larger than " + options.maxBodyBytes() + " bytes (--max-body-bytes)");
  }

  private ObjectNode modelsList() {
    ObjectNode root = JSON.createObjectNode().put("object", "list");
    var data = root.putArray("data");
    if (chat != null) data.addObject().put("id", CHAT_MODEL_ID).put("object", "model").put("created", 0).put("owned_by", "viscpm");
    if (paint != null) data.addObject().put("id", PAINT_MODEL_ID).put("object", "model").put("created", 0).put("owned_by", "viscpm");
    return root;
  }

  private String metricsText() {
    double seconds = metrics.generationNanos.get() / 1e9;
    long first = metrics.firstTokenCount.get();
    return "# TYPE viscpm_requests_total counter\nviscpm_requests_total " + metrics.requests.get() + "\n"
        + "# TYPE viscpm_errors_total counter\nviscpm_errors_total " + metrics.errors.get() + "\n"
        + "# TYPE viscpm_queue_length gauge\nviscpm_queue_length " + waiting.get() + "\n"
        + "# TYPE viscpm_completion_tokens_total counter\nviscpm_completion_tokens_total " + metrics.completionTokens.get() + "\n"
        + "# TYPE viscpm_tokens_per_second gauge\nviscpm_tokens_per_second "
        + (seconds > 0 ? metrics.completionTokens.get() / seconds : 0) + "\n"
        + "# TYPE viscpm_time_to_first_token_seconds gauge\nviscpm_time_to_first_token_seconds "
        + (first > 0 ? metrics.firstTokenNanos.get() / 1e9 / first : 0) + "\n";
  }

  // --- responses ---------------------------------------------------------------------------

  private static void sendError(Call call, ApiError e) {
    if (call.clientGone()) return;  // nobody listens
    ObjectNode root = JSON.createObjectNode();
    ObjectNode error = root.putObject("error");
    error.put("message", e.getMessage()).put("type", e.type);
    if (e.param == null) error.putNull("param"); else error.put("param", e.param);
    if (e.code == null) error.putNull("code"); else error.put("code", e.code);
    try {
      if (call.headersSent()) {
        call.streamError(JSON.writeValueAsString(root));  // a failure mid-stream: an error event ends it
        return;
      }
      if (e.status == 401) call.exchange.getResponseHeaders().set("WWW-Authenticate", "Bearer");
      call.sendJson(e.status, root);
    } catch (IOException | RuntimeException ignored) {
      // the client is gone: nothing to add
    }
  }
}
