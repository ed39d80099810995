package ai.viscpm.server;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * One request and its response over the JDK's {@link HttpExchange}, with a deadline on every
 * socket read and write ({@link IoWatchdog}):
 *
 * <ul>
 *   <li>the request body must have arrived {@link ServerOptions#requestTimeout()} after the
 *       handler started;
 *   <li>each write of at most 64 KiB (and each flush) must complete within {@link
 *       ServerOptions#writeTimeout()};
 *   <li>when a response is sent before the request body was read (413 on the declared
 *       Content-Length, 401, 404, ...), the rest of the body is read and dropped for up to
 *       {@link #LINGER_MILLIS} ms / {@link #LINGER_BYTES} bytes after the response went out, so
 *       that a client still sending it reads the answer instead of a connection reset; the
 *       connection is then closed.
 * </ul>
 *
 * A deadline that passes closes the connection. I/O failures on the connection mark the
 * client as gone ({@link #clientGone()}); the handler then answers nothing more.
 */
final class Call {
  static final long LINGER_MILLIS = 2000;
  static final long LINGER_BYTES = 64L << 20;
  private static final int PIECE = 64 << 10;
  private static final long CLOSE_PENDING_NANOS = TimeUnit.SECONDS.toNanos(1);

  /** The request ended without a response: the client hung up (499) or was too slow (408). */
  static final class Gone extends Exception {
    final int status;

    Gone(int status, String message, Throwable cause) {
      super(message, cause, false, false);
      this.status = status;
    }
  }

  final HttpExchange exchange;
  private final IoWatchdog.Deadline deadline;
  private final long requestDeadline;
  private final long writeTimeoutNanos;
  private final BodyIn in;
  private final BodyOut out;
  private final boolean head;
  private boolean headersSent;
  private boolean eventStream;
  private volatile boolean clientGone;
  private boolean completed;  // the response went out whole and the JDK was told (it then keeps or closes the connection)

  Call(HttpExchange exchange, IoWatchdog.Deadline deadline, ServerOptions options, long startNanos) {
    this.exchange = exchange;
    this.deadline = deadline;
    this.requestDeadline = startNanos + options.requestTimeout().toNanos();
    this.writeTimeoutNanos = options.writeTimeout().toNanos();
    this.head = "HEAD".equals(exchange.getRequestMethod());
    this.in = new BodyIn(exchange.getRequestBody());
    this.out = new BodyOut(exchange.getResponseBody());
    exchange.setStreams(in, out);
  }

  boolean clientGone() {
    return clientGone;
  }

  boolean headersSent() {
    return headersSent;
  }

  /** The declared Content-Length, -1 for none (chunked or no body). The JDK has checked it is a number >= 0. */
  private long declaredLength() {
    Headers h = exchange.getRequestHeaders();
    if (h.containsKey("Transfer-Encoding")) return -1;
    String cl = h.getFirst("Content-Length");
    if (cl == null) return -1;
    try {
      return Long.parseLong(cl.trim());
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** Whether the headers announce body bytes that nobody has read. */
  boolean bodyPending() {
    if (in.eof) return false;
    if (exchange.getRequestHeaders().containsKey("Transfer-Encoding")) return true;
    long declared = declaredLength();
    return declared > in.consumed;
  }

  /**
   * The whole request body, at most {@code limit} bytes: 413 at once when the declared
   * Content-Length is larger, or as soon as a chunked body grows past it.
   */
  byte[] readBody(long limit, ApiError tooLarge) throws ApiError, Gone {
    long declared = declaredLength();
    if (declared > limit) throw tooLarge;
    // Grown as bytes arrive: a declared length is only a promise.
    ByteArrayOutputStream buffer = new ByteArrayOutputStream((int) Math.min(Math.max(declared, 256), PIECE));
    byte[] chunk = new byte[PIECE];
    try {
      for (int n; (n = in.read(chunk, 0, chunk.length)) >= 0; ) {
        if (buffer.size() + (long) n > limit) throw tooLarge;
        buffer.write(chunk, 0, n);
      }
    } catch (IOException e) {
      if (deadline.expired())
        throw new Gone(408, "the request body did not arrive within the request timeout", e);
      // A malformed chunked body, or the client hung up half-way (then the answer goes nowhere).
      throw ApiError.badRequest(null, "could not read the request body: " + e.getMessage());
    }
    return buffer.toByteArray();
  }

  private void sendHeaders(int status, long length) throws IOException {
    deadline.arm(System.nanoTime() + writeTimeoutNanos);
    try {
      headersSent = true;
      exchange.sendResponseHeaders(status, length);
    } catch (IOException e) {
      clientGone = true;
      throw e;
    } finally {
      deadline.disarm();
    }
  }

  /** A complete response (no body for HEAD). */
  void send(int status, String contentType, String text) throws IOException {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", contentType);
    boolean pending = bodyPending();
    if (pending) exchange.getResponseHeaders().set("Connection", "close");
    if (head) {
      // No body: the JDK ends the exchange right here; closing its stream as well would end it twice.
      sendHeaders(status, -1);
      completed = true;
      return;
    }
    sendHeaders(status, bytes.length);
    out.write(bytes, 0, bytes.length);
    out.flush();
    if (pending) linger();
    out.close();
  }

  void sendJson(int status, Object body) throws IOException {
    send(status, "application/json", VisCpmServer.JSON.writeValueAsString(body));
  }

  /** Chunked response headers for server-sent events; events then go to the returned stream. */
  OutputStream startEventStream() throws IOException {
    exchange.getResponseHeaders().set("Content-Type", "text/event-stream");
    exchange.getResponseHeaders().set("Cache-Control", "no-cache");
    sendHeaders(200, 0);
    eventStream = true;
    return out;
  }

  /** Ends an event stream whose generation failed with an {@code {"error": ...}} event (as OpenAI's streams do). */
  void streamError(String errorJson) throws IOException {
    if (!eventStream || completed) return;
    byte[] bytes = ("data: " + errorJson + "\n\n").getBytes(StandardCharsets.UTF_8);
    out.write(bytes, 0, bytes.length);
    out.close();
  }

  /** Reads and drops what is left of the request body, for a bounded time and size. */
  private void linger() {
    in.readDeadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(LINGER_MILLIS);
    byte[] sink = new byte[PIECE];
    long dropped = 0;
    try {
      for (int n; dropped < LINGER_BYTES && (n = in.read(sink, 0, sink.length)) >= 0; ) dropped += n;
    } catch (IOException e) {
      // The client hung up, or the time is up (then the connection is closed).
    }
  }

  /**
   * Ends the exchange. True: the response went out whole, and the JDK keeps the connection
   * for the next request or closes it. False: the connection is broken (the client hung up,
   * a deadline passed, no response could be sent); the handler must then throw an
   * IOException, the only way to make the JDK forget the connection (closing the exchange
   * closes the socket but leaves it in the server's connection sets, a leak).
   */
  boolean finish() {
    try {
      if (!completed) {
        deadline.arm(System.nanoTime() + (bodyPending() ? Math.min(CLOSE_PENDING_NANOS, writeTimeoutNanos) : writeTimeoutNanos));
        exchange.close();
      }
    } finally {
      deadline.disarm();
    }
    return completed && !clientGone && !deadline.expired();
  }

  /** The request body with the request deadline on each read. */
  private final class BodyIn extends FilterInputStream {
    long consumed;
    boolean eof;
    long readDeadline = requestDeadline;

    BodyIn(InputStream in) {
      super(in);
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (eof) return -1;
      deadline.arm(readDeadline);
      try {
        int n = in.read(b, off, len);
        if (n < 0) eof = true; else consumed += n;
        return n;
      } finally {
        deadline.disarm();
      }
    }

    @Override
    public long skip(long n) throws IOException {
      throw new IOException("not supported");
    }

    @Override
    public void close() {
      // The JDK drains and closes the original stream when the exchange ends.
    }
  }

  /** The response body: writes in pieces of 64 KiB, each (and each flush) within the write timeout. */
  private final class BodyOut extends FilterOutputStream {
    BodyOut(OutputStream out) {
      super(out);
    }

    @Override
    public void write(int b) throws IOException {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      for (int done = 0; done < len; ) {
        int n = Math.min(PIECE, len - done);
        deadline.arm(System.nanoTime() + writeTimeoutNanos);
        try {
          out.write(b, off + done, n);
        } catch (IOException e) {
          clientGone = true;
          throw e;
        } finally {
          deadline.disarm();
        }
        done += n;
      }
    }

    @Override
    public void flush() throws IOException {
      deadline.arm(System.nanoTime() + writeTimeoutNanos);
      try {
        out.flush();
      } catch (IOException e) {
        clientGone = true;
        throw e;
      } finally {
        deadline.disarm();
      }
    }

    @Override
    public void close() throws IOException {
      // Closing flushes, ends a chunked body and lets the JDK drain what is left of the request.
      deadline.arm(System.nanoTime() + (bodyPending() ? Math.min(CLOSE_PENDING_NANOS, writeTimeoutNanos) : writeTimeoutNanos));
      try {
        out.close();
        if (headersSent) completed = true;
      } catch (IOException e) {
        clientGone = true;
        throw e;
      } finally {
        deadline.disarm();
      }
    }
  }
}
