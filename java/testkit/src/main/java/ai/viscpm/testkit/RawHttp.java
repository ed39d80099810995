package ai.viscpm.testkit;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A minimal HTTP/1.1 client over a plain socket, for requests no real client sends (broken
 * framing, lies in Content-Length, half-sent bodies) and for reading exactly what a server
 * answers. One connection; requests may follow each other on it (keep-alive).
 */
public final class RawHttp implements Closeable {
  /** Bodies above this are not kept (the reader fails instead). */
  public static final int MAX_BODY = 64 << 20;

  /** A response; {@code body} is de-chunked. */
  public record Response(int status, Map<String, List<String>> headers, byte[] body) {
    /** The first value of a header (case-insensitive name), or null. */
    public String header(String name) {
      List<String> values = headers.get(name.toLowerCase(Locale.ROOT));
      return values == null || values.isEmpty() ? null : values.get(0);
    }

    public String text() {
      return new String(body, StandardCharsets.UTF_8);
    }

    public boolean closesConnection() {
      String c = header("Connection");
      return c != null && c.toLowerCase(Locale.ROOT).contains("close");
    }
  }

  private final Socket socket;
  private final InputStream in;
  private final OutputStream out;

  private RawHttp(Socket socket) throws IOException {
    this.socket = socket;
    this.in = new BufferedInputStream(socket.getInputStream(), 16 << 10);
    this.out = socket.getOutputStream();
  }

  /** Connects; every later read waits at most {@code timeoutMillis} for a byte. */
  public static RawHttp connect(String host, int port, int timeoutMillis) throws IOException {
    Socket s = new Socket();
    try {
      s.connect(new InetSocketAddress(host, port), timeoutMillis);
      s.setSoTimeout(timeoutMillis);
      s.setTcpNoDelay(true);
      return new RawHttp(s);
    } catch (IOException e) {
      s.close();
      throw e;
    }
  }

  public Socket socket() {
    return socket;
  }

  public void send(byte[] bytes) throws IOException {
    out.write(bytes);
    out.flush();
  }

  public void send(byte[] bytes, int off, int len) throws IOException {
    out.write(bytes, off, len);
    out.flush();
  }

  /**
   * Whether the server has closed this connection (a read sees the end of the stream within
   * a few milliseconds). Consumes nothing otherwise.
   */
  public boolean closedByPeer() {
    try {
      int old = socket.getSoTimeout();
      socket.setSoTimeout(2);
      try {
        in.mark(1);
        int b = in.read();
        if (b < 0) return true;
        in.reset();
        return false;
      } catch (SocketTimeoutException e) {
        return false;
      } finally {
        socket.setSoTimeout(old);
      }
    } catch (IOException e) {
      return true;
    }
  }

  /**
   * Reads one response (skipping 1xx interim responses).
   *
   * @param headRequest the request was HEAD: no body follows the headers
   * @throws EOFException when the server closed the connection before a status line
   */
  public Response read(boolean headRequest) throws IOException {
    while (true) {
      String statusLine = line(true);
      if (statusLine == null) throw new EOFException("the server closed the connection without a response");
      String[] parts = statusLine.split(" ", 3);
      if (parts.length < 2 || !parts[0].startsWith("HTTP/")) throw new IOException("not an HTTP status line: " + statusLine);
      int status;
      try {
        status = Integer.parseInt(parts[1]);
      } catch (NumberFormatException e) {
        throw new IOException("not an HTTP status line: " + statusLine);
      }
      Map<String, List<String>> headers = new LinkedHashMap<>();
      for (String h; !(h = line(false)).isEmpty(); ) {
        int colon = h.indexOf(':');
        if (colon <= 0) throw new IOException("bad response header: " + h);
        headers.computeIfAbsent(h.substring(0, colon).trim().toLowerCase(Locale.ROOT), k -> new ArrayList<>())
            .add(h.substring(colon + 1).trim());
      }
      if (status >= 100 && status < 200) continue;
      Response head = new Response(status, headers, new byte[0]);
      if (headRequest || status == 204 || status == 304) return head;
      String te = head.header("Transfer-Encoding");
      String cl = head.header("Content-Length");
      byte[] body;
      if (te != null && te.toLowerCase(Locale.ROOT).contains("chunked")) {
        body = chunked();
      } else if (cl != null) {
        long n = Long.parseLong(cl.trim());
        if (n > MAX_BODY) throw new IOException("response body of " + n + " bytes");
        body = in.readNBytes((int) n);
        if (body.length != n) throw new EOFException("response body cut at " + body.length + " of " + n + " bytes");
      } else {
        body = untilEof();
      }
      return new Response(status, headers, body);
    }
  }

  private byte[] chunked() throws IOException {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    while (true) {
      String sizeLine = line(false);
      int semi = sizeLine.indexOf(';');
      int size;
      try {
        size = Integer.parseInt((semi < 0 ? sizeLine : sizeLine.substring(0, semi)).trim(), 16);
      } catch (NumberFormatException e) {
        throw new IOException("bad chunk size line: " + sizeLine);
      }
      if (size == 0) {
        while (!line(false).isEmpty()) { }  // trailers
        return body.toByteArray();
      }
      if (body.size() + (long) size > MAX_BODY) throw new IOException("chunked response over " + MAX_BODY + " bytes");
      byte[] chunk = in.readNBytes(size);
      if (chunk.length != size) throw new EOFException("chunk cut short");
      body.write(chunk);
      if (!line(false).isEmpty()) throw new IOException("no CRLF after a chunk");
    }
  }

  private byte[] untilEof() throws IOException {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    for (int n; (n = in.read(buf)) >= 0; ) {
      if (body.size() + (long) n > MAX_BODY) throw new IOException("response over " + MAX_BODY + " bytes");
      body.write(buf, 0, n);
    }
    return body.toByteArray();
  }

  /** One CRLF (or LF) terminated line, ISO-8859-1; null at the end of the stream when {@code eofOk} before any byte. */
  private String line(boolean eofOk) throws IOException {
    StringBuilder s = new StringBuilder();
    while (true) {
      int b = in.read();
      if (b < 0) {
        if (eofOk && s.length() == 0) return null;
        throw new EOFException("connection closed mid-line");
      }
      if (b == '\n') break;
      if (s.length() > 64 << 10) throw new IOException("response line over 64 KiB");
      s.append((char) b);
    }
    int n = s.length();
    if (n > 0 && s.charAt(n - 1) == '\r') s.setLength(n - 1);
    return s.toString();
  }

  @Override
  public void close() {
    try {
      socket.close();
    } catch (IOException ignored) {
      // closing anyway
    }
  }

  /** An HTTP/1.1 request with a Content-Length body (none for a null body). */
  public static byte[] request(String method, String path, String contentType, byte[] body, String... extraHeaders) {
    StringBuilder head = new StringBuilder();
    head.append(method).append(' ').append(path).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    if (contentType != null) head.append("Content-Type: ").append(contentType).append("\r\n");
    if (body != null) head.append("Content-Length: ").append(body.length).append("\r\n");
    for (String h : extraHeaders) head.append(h).append("\r\n");
    head.append("\r\n");
    return concat(head.toString().getBytes(StandardCharsets.ISO_8859_1), body == null ? new byte[0] : body);
  }

  public static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (byte[] p : parts) b.writeBytes(p);
    return b.toByteArray();
  }
}
