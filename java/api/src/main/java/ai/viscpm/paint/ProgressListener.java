package ai.viscpm.paint;

/** Called after each denoising step on the generating thread; return false to cancel. */
@FunctionalInterface
public interface ProgressListener {
  boolean onStep(int step, int totalSteps);
}
