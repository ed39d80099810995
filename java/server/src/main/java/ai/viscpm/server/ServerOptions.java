package ai.viscpm.server;

import java.time.Duration;
import java.util.Optional;

/**
 * How {@link VisCpmServer} listens and admits work.
 *
 * @param host interface to bind (default 127.0.0.1)
 * @param port TCP port (0: any free port)
 * @param apiKey when present, every request needs {@code Authorization: Bearer <key>}
 * @param generationSlots generations running at once
 * @param maxQueue requests waiting for a slot before 429s are returned
 * @param maxBodyBytes largest request body (413 above)
 * @param requestTimeout the request body must have arrived this long after its headers
 *     (default 60 s); a client that sends it slower is disconnected. The request line and
 *     headers are bounded by the JDK's {@code sun.net.httpserver.maxReqTime}, see {@link VisCpmServer}
 * @param writeTimeout a client that accepts no byte of the response for this long (default
 *     30 s) is disconnected; a streamed generation it was reading is cancelled
 * @param streamKeepAlive a streamed chat answer that has had no event for this long (default
 *     10 s) gets an SSE comment line, so that a client that went away is noticed (and its
 *     generation cancelled) even while beam search has no settled text to send
 */
public record ServerOptions(String host, int port, Optional<String> apiKey, int generationSlots, int maxQueue,
    long maxBodyBytes, Duration requestTimeout, Duration writeTimeout, Duration streamKeepAlive) {
  public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(60);
  public static final Duration DEFAULT_WRITE_TIMEOUT = Duration.ofSeconds(30);
  public static final Duration DEFAULT_STREAM_KEEP_ALIVE = Duration.ofSeconds(10);

  public ServerOptions {
    if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in [0, 65535], got " + port);
    if (generationSlots < 1) throw new IllegalArgumentException("generation slots must be >= 1");
    if (maxQueue < 0) throw new IllegalArgumentException("max queue must be >= 0");
    if (maxBodyBytes < 1) throw new IllegalArgumentException("max body bytes must be >= 1");
    requirePositive(requestTimeout, "request timeout");
    requirePositive(writeTimeout, "write timeout");
    requirePositive(streamKeepAlive, "stream keep-alive interval");
  }

  /** The default timeouts. */
  public ServerOptions(String host, int port, Optional<String> apiKey, int generationSlots, int maxQueue,
      long maxBodyBytes) {
    this(host, port, apiKey, generationSlots, maxQueue, maxBodyBytes, DEFAULT_REQUEST_TIMEOUT, DEFAULT_WRITE_TIMEOUT,
        DEFAULT_STREAM_KEEP_ALIVE);
  }

  private static void requirePositive(Duration d, String what) {
    if (d == null || d.isNegative() || d.isZero()) throw new IllegalArgumentException(what + " must be > 0, got " + d);
  }

  public static ServerOptions defaults() {
    return new ServerOptions("127.0.0.1", 8080, Optional.empty(), 1, 16, 20L << 20);
  }

  public ServerOptions withPort(int p) {
    return new ServerOptions(host, p, apiKey, generationSlots, maxQueue, maxBodyBytes, requestTimeout, writeTimeout,
        streamKeepAlive);
  }

  public ServerOptions withApiKey(String key) {
    return new ServerOptions(host, port, Optional.ofNullable(key), generationSlots, maxQueue, maxBodyBytes,
        requestTimeout, writeTimeout, streamKeepAlive);
  }

  public ServerOptions withLimits(int slots, int queue, long bodyBytes) {
    return new ServerOptions(host, port, apiKey, slots, queue, bodyBytes, requestTimeout, writeTimeout, streamKeepAlive);
  }

  public ServerOptions withHost(String h) {
    return new ServerOptions(h, port, apiKey, generationSlots, maxQueue, maxBodyBytes, requestTimeout, writeTimeout,
        streamKeepAlive);
  }

  public ServerOptions withTimeouts(Duration request, Duration write, Duration keepAlive) {
    return new ServerOptions(host, port, apiKey, generationSlots, maxQueue, maxBodyBytes, request, write, keepAlive);
  }
}
