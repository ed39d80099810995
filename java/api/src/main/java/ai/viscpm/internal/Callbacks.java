package ai.viscpm.internal;

import ai.viscpm.internal.jni.viscpm_progress_callback;
import ai.viscpm.internal.jni.viscpm_text_callback;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntBinaryOperator;
import java.util.function.Predicate;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Native -> Java callbacks. JavaCPP allows only a few live function-pointer thunks per class,
 * so there is one of each, and the native user_data carries a key into a table of listeners.
 * A listener that throws cancels the operation; the exception is rethrown by the caller.
 */
public final class Callbacks {
  private static final AtomicLong NEXT = new AtomicLong(1);
  private static final Map<Long, Predicate<String>> TEXT = new ConcurrentHashMap<>();
  private static final Map<Long, IntBinaryOperator> PROGRESS = new ConcurrentHashMap<>();
  private static viscpm_text_callback textThunk;
  private static viscpm_progress_callback progressThunk;

  private Callbacks() {}

  /** A registration; close it when the native call has returned. */
  public static final class Registration implements AutoCloseable {
    private final long key;
    private final Map<Long, ?> table;
    public final Pointer userData;
    public volatile RuntimeException failure;

    Registration(long key, Map<Long, ?> table) {
      this.key = key;
      this.table = table;
      this.userData = new Pointer() {
        {
          address = key;
        }
      };
    }

    @Override
    public void close() {
      table.remove(key);
    }
  }

  public static synchronized viscpm_text_callback textThunk() {
    if (textThunk == null) {
      textThunk = new viscpm_text_callback() {
        @Override
        public int call(BytePointer text, Pointer userData) {
          Predicate<String> listener = TEXT.get(userData.address());
          if (listener == null) return 0;
          try {
            return listener.test(text.getString(StandardCharsets.UTF_8)) ? 0 : 1;
          } catch (RuntimeException e) {
            return 1;
          }
        }
      };
    }
    return textThunk;
  }

  public static synchronized viscpm_progress_callback progressThunk() {
    if (progressThunk == null) {
      progressThunk = new viscpm_progress_callback() {
        @Override
        public int call(int step, int total, Pointer userData) {
          IntBinaryOperator listener = PROGRESS.get(userData.address());
          if (listener == null) return 0;
          try {
            return listener.applyAsInt(step, total);
          } catch (RuntimeException e) {
            return 1;
          }
        }
      };
    }
    return progressThunk;
  }

  /** Registers a text listener (returns false to cancel). */
  public static Registration text(Predicate<String> listener) {
    long key = NEXT.getAndIncrement();
    Registration r = new Registration(key, TEXT);
    TEXT.put(key, s -> {
      try {
        return listener.test(s);
      } catch (RuntimeException e) {
        r.failure = e;
        throw e;
      }
    });
    return r;
  }

  /** Registers a progress listener ((step, total) -> 0 to go on, non-zero to cancel). */
  public static Registration progress(IntBinaryOperator listener) {
    long key = NEXT.getAndIncrement();
    Registration r = new Registration(key, PROGRESS);
    PROGRESS.put(key, (step, total) -> {
      try {
        return listener.applyAsInt(step, total);
      } catch (RuntimeException e) {
        r.failure = e;
        throw e;
      }
    });
    return r;
  }
}
