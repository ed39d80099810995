package ai.viscpm.engine.jvm;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.Pointer;

/**
 * The native objects a model keeps past the PointerScope that made them (weights, constant
 * scalars, options): each is retained once by {@link #own} and closed, last first, by
 * {@link #close()}, which may be called again. Use after close is an IllegalStateException.
 */
abstract class NativeOwner implements AutoCloseable {
  /** Kept objects, in the order they were made; also handed to helpers that load weights. */
  final List<Pointer> owned = new ArrayList<>();
  private final String what;
  private volatile boolean closed;

  /** {@code what} names the object in the use-after-close message ("the UNet"). */
  NativeOwner(String what) {
    this.what = what;
  }

  final <P extends Pointer> P own(P p) {
    owned.add(Torch.keep(p));
    return p;
  }

  final void checkOpen() {
    if (closed) throw new IllegalStateException(what + " is closed");
  }

  /** Closes what is kept so far (also when a constructor fails half-way). */
  final void release() {
    for (int i = owned.size() - 1; i >= 0; i--) owned.get(i).close();
    owned.clear();
  }

  @Override
  public synchronized void close() {
    if (closed) return;
    closed = true;
    release();
  }
}
