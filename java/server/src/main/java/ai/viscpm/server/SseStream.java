package ai.viscpm.server;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A server-sent event stream: {@code data:} events from the generating thread and, from the
 * server's keep-alive thread, an SSE comment ({@code : keep-alive}, which clients ignore) when
 * the stream has been quiet for a while. Writing is the only way to learn that the client
 * went away; the comment lets the server notice while beam search has no settled text to
 * send, and then calls {@link #onBroken}: the generation is cancelled and its slot freed.
 */
final class SseStream implements AutoCloseable {
  private static final byte[] KEEP_ALIVE = ": keep-alive\n\n".getBytes(StandardCharsets.US_ASCII);
  private final ReentrantLock lock = new ReentrantLock();
  private final OutputStream out;
  private final Set<SseStream> registry;
  private volatile long lastWriteNanos = System.nanoTime();
  private volatile IOException broken;
  private Runnable onBroken = () -> {};
  private boolean closed;  // guarded by lock

  SseStream(OutputStream out, Set<SseStream> registry) {
    this.out = out;
    this.registry = registry;
    registry.add(this);
  }

  /** Runs (on the keep-alive thread) when a keep-alive write fails. */
  void onBroken(Runnable action) {
    lock.lock();
    try {
      onBroken = action;
    } finally {
      lock.unlock();
    }
  }

  /** The write failure that ended the stream, or null. */
  IOException broken() {
    return broken;
  }

  void event(String data) throws IOException {
    write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
  }

  private void write(byte[] bytes) throws IOException {
    lock.lock();
    try {
      if (broken != null) throw broken;
      out.write(bytes);
      out.flush();
      lastWriteNanos = System.nanoTime();
    } catch (IOException e) {
      if (broken == null) broken = e;
      throw e;
    } finally {
      lock.unlock();
    }
  }

  /** From the keep-alive thread: a comment if nothing was written for {@code quietNanos}. */
  void keepAlive(long now, long quietNanos) {
    if (broken != null || now - lastWriteNanos < quietNanos || !lock.tryLock()) return;
    try {
      if (closed || broken != null) return;
      out.write(KEEP_ALIVE);
      out.flush();
      lastWriteNanos = System.nanoTime();
    } catch (IOException e) {
      broken = e;
      onBroken.run();
    } catch (RuntimeException e) {
      // onBroken failed (the session is closing): nothing more to do
    } finally {
      lock.unlock();
    }
  }

  /** No keep-alive after this; the handler then writes the end of the stream itself. */
  @Override
  public void close() {
    registry.remove(this);
    lock.lock();
    try {
      closed = true;
    } finally {
      lock.unlock();
    }
  }
}
