package ai.viscpm.server;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Read and write deadlines for the JDK HTTP server's connections, which it reads and writes
 * with blocking socket channels and no timeout of their own. A blocking channel closes when
 * the thread blocked on it is interrupted ({@link java.nio.channels.InterruptibleChannel}):
 * a thread arms a {@link Deadline} around one socket read or write, and one daemon thread
 * interrupts threads whose deadline has passed, so that the read or write fails with
 * {@link java.nio.channels.ClosedByInterruptException}, the connection closes and the thread
 * is free again. An interrupt is only ever sent while a deadline is armed, and {@link
 * Deadline#disarm()} clears one that lands after the I/O returned.
 */
final class IoWatchdog implements AutoCloseable {
  private static final long TICK_MILLIS = 20;
  private final Set<Deadline> armed = ConcurrentHashMap.newKeySet();
  private final Thread thread;
  private volatile boolean closed;

  IoWatchdog(String name) {
    thread = new Thread(this::run, name);
    thread.setDaemon(true);
    thread.start();
  }

  Deadline newDeadline() {
    return new Deadline();
  }

  private void run() {
    while (!closed) {
      try {
        Thread.sleep(TICK_MILLIS);
      } catch (InterruptedException e) {
        return;
      }
      long now = System.nanoTime();
      for (Deadline d : armed) d.check(now);
    }
  }

  @Override
  public void close() {
    closed = true;
    thread.interrupt();
  }

  /** A deadline for the socket I/O of one thread at a time. */
  final class Deadline {
    private Thread target;      // the thread doing the I/O; null: not armed
    private long expiresAt;     // System.nanoTime()
    private boolean fired;      // interrupted since arm()
    private boolean everFired;

    /** Until {@link #disarm()}, interrupts the calling thread at {@code expiresAtNanos} (System.nanoTime()). */
    void arm(long expiresAtNanos) {
      synchronized (this) {
        target = Thread.currentThread();
        expiresAt = expiresAtNanos;
        fired = false;
      }
      armed.add(this);
    }

    void disarm() {
      armed.remove(this);
      synchronized (this) {
        if (fired && target == Thread.currentThread()) Thread.interrupted();  // a late interrupt: drop it
        target = null;
        fired = false;
      }
    }

    /** Whether a deadline of this object ever passed (the connection was then closed). */
    synchronized boolean expired() {
      return everFired;
    }

    private synchronized void check(long now) {
      if (target != null && !fired && now - expiresAt >= 0) {
        fired = true;
        everFired = true;
        target.interrupt();
      }
    }
  }
}
