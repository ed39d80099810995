package ai.viscpm.spark;

import ai.viscpm.VisCpm;
import ai.viscpm.VisCpmException;
import org.apache.spark.TaskContext;

/**
 * LibTorch's intra-op pool is one per process, and an executor runs several tasks at once
 * in that process. By default each task gets {@code spark.task.cpus} threads, so that the
 * executor's concurrent tasks together use its cores and no more (2 tasks x 2 threads on 2
 * cores would only add switching).
 */
final class TaskThreads {
  private TaskThreads() {}

  static void apply(int configured) throws VisCpmException {
    int wanted = configured > 0 ? configured : taskCpus();
    if (VisCpm.threads() != Math.min(wanted, VisCpm.hardwareThreads())) VisCpm.setThreads(wanted);
  }

  private static int taskCpus() {
    TaskContext task = TaskContext.get();
    return task == null ? 1 : Math.max(1, task.cpus());
  }
}
