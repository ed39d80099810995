package ai.viscpm.server;

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
 */
public record ServerOptions(String host, int port, Optional<String> apiKey, int generationSlots, int maxQueue,
    long maxBodyBytes) {
  public ServerOptions {
    if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in [0, 65535], got " + port);
    if (generationSlots < 1) throw new IllegalArgumentException("generation slots must be >= 1");
    if (maxQueue < 0) throw new IllegalArgumentException("max queue must be >= 0");
    if (maxBodyBytes < 1) throw new IllegalArgumentException("max body bytes must be >= 1");
  }

  public static ServerOptions defaults() {
    return new ServerOptions("127.0.0.1", 8080, Optional.empty(), 1, 16, 20L << 20);
  }

  public ServerOptions withPort(int p) {
    return new ServerOptions(host, p, apiKey, generationSlots, maxQueue, maxBodyBytes);
  }

  public ServerOptions withApiKey(String key) {
    return new ServerOptions(host, port, Optional.ofNullable(key), generationSlots, maxQueue, maxBodyBytes);
  }

  public ServerOptions withLimits(int slots, int queue, long bodyBytes) {
    return new ServerOptions(host, port, apiKey, slots, queue, bodyBytes);
  }

  public ServerOptions withHost(String h) {
    return new ServerOptions(h, port, apiKey, generationSlots, maxQueue, maxBodyBytes);
  }
}
