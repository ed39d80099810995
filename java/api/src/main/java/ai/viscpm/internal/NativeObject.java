package ai.viscpm.internal;

import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Base of every Java object that owns a native handle. {@link #close()} is idempotent and
 * waits for calls in flight on other threads; any use after close throws
 * {@link IllegalStateException} instead of touching freed memory.
 *
 * <p>Subclasses wrap each native call in {@code try (var use = use()) { ... handle() ... }}.
 */
public abstract class NativeObject implements AutoCloseable {
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
  private boolean closed;

  protected NativeObject() {
    NativeLibrary.load();
  }

  /** A scope during which the handle stays valid. */
  public final class Use implements AutoCloseable {
    private Use() {}

    @Override
    public void close() {
      lock.readLock().unlock();
    }
  }

  protected final Use use() {
    lock.readLock().lock();
    if (closed) {
      lock.readLock().unlock();
      throw new IllegalStateException(getClass().getSimpleName() + " is closed");
    }
    NativeLibrary.adoptProcessThreadCount();
    return new Use();
  }

  public final boolean isClosed() {
    lock.readLock().lock();
    try {
      return closed;
    } finally {
      lock.readLock().unlock();
    }
  }

  @Override
  public final void close() {
    lock.writeLock().lock();
    try {
      if (closed) return;
      closed = true;
      release();
    } finally {
      lock.writeLock().unlock();
    }
  }

  /** Frees the native handle; called once, with no use in flight. */
  protected abstract void release();
}
