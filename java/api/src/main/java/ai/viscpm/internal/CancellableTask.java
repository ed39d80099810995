package ai.viscpm.internal;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * The future of one native call run on a caller's executor. Cancelling it asks the running call
 * to stop (the native side checks between steps) and completes it with a
 * {@link java.util.concurrent.CancellationException} at once; a call cancelled before it
 * started never runs.
 */
public final class CancellableTask<T> extends CompletableFuture<T> {
  /** A native call that may throw; the checked exceptions become the future's failure. */
  @FunctionalInterface
  public interface Call<T> {
    T run(CancellableTask<T> task) throws Exception;
  }

  private final Runnable stopRunningCall;

  private CancellableTask(Runnable stopRunningCall) {
    this.stopRunningCall = stopRunningCall;
  }

  /** Starts {@code call} on {@code executor}; a rejected submission is the future's failure. */
  public static <T> CancellableTask<T> start(Executor executor, Runnable stopRunningCall, Call<T> call) {
    if (executor == null) throw new NullPointerException("executor");
    CancellableTask<T> task = new CancellableTask<>(stopRunningCall);
    try {
      executor.execute(() -> {
        if (task.isDone()) return;  // cancelled while queued
        try {
          task.complete(call.run(task));
        } catch (Throwable t) {
          task.completeExceptionally(t);  // a no-op when cancel() came first
        }
      });
    } catch (RejectedExecutionException e) {
      task.completeExceptionally(e);
    }
    return task;
  }

  @Override
  public boolean cancel(boolean mayInterruptIfRunning) {
    boolean cancelled = super.cancel(mayInterruptIfRunning);
    if (cancelled) stopRunningCall.run();
    return cancelled;
  }
}
