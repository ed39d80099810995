package ai.viscpm.spark;

import ai.viscpm.Device;
import ai.viscpm.ModelOptions;
import ai.viscpm.VisCpm;
import ai.viscpm.VisCpmException;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.paint.PaintModel;
import org.apache.spark.SparkFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The models of this executor JVM: loaded by the first task that needs one, shared by every
 * task of the JVM after that (models are thread-safe), closed when the JVM shuts down. One
 * model per {@link ModelFiles}, so a 2-core executor running 2 tasks holds one copy of the
 * weights, not two.
 */
final class ExecutorModels {
  private record Key(Class<?> kind, ModelFiles files) {}

  private static final Map<Key, AutoCloseable> MODELS = new ConcurrentHashMap<>();
  private static final Map<Key, Integer> LOADS = new ConcurrentHashMap<>();
  private static boolean shutdownHookInstalled;

  private ExecutorModels() {}

  static ChatModel chat(ModelFiles files) throws VisCpmException {
    return (ChatModel) get(new Key(ChatModel.class, files));
  }

  static PaintModel paint(ModelFiles files) throws VisCpmException {
    return (PaintModel) get(new Key(PaintModel.class, files));
  }

  private static AutoCloseable get(Key key) throws VisCpmException {
    AutoCloseable model = MODELS.get(key);
    if (model != null) return model;
    synchronized (MODELS) {  // loads are rare and heavy: one at a time, never twice
      model = MODELS.get(key);
      if (model != null) return model;
      ModelFiles f = key.files();
      Device device = Device.parse(f.device());
      VisCpm.requireDevice(device);
      ModelOptions options = ModelOptions.builder().device(device).build();
      Path dir = onThisNode(f.modelDir()), checkpoint = onThisNode(f.checkpoint()), vocabulary = onThisNode(f.vocabulary());
      model = key.kind() == ChatModel.class
          ? ChatModel.load(dir, checkpoint, null, null, vocabulary, options)
          : PaintModel.load(dir, checkpoint, vocabulary, options);
      installShutdownHook();
      MODELS.put(key, model);
      LOADS.merge(key, 1, Integer::sum);
      return model;
    }
  }

  /**
   * A path as this node sees it. A relative one that is not in the working directory is looked
   * for among the files shipped with the job ({@code --files}, {@code --archives},
   * {@code SparkContext.addFile/addArchive}): executors unpack those into their working
   * directory, but a local-mode driver into a directory of its own.
   */
  static Path onThisNode(String path) {
    if (path == null) return null;
    Path p = Path.of(path);
    if (p.isAbsolute() || Files.exists(p)) return p;
    try {
      Path shipped = Path.of(SparkFiles.get(path));
      return Files.exists(shipped) ? shipped : p;
    } catch (RuntimeException noSparkEnv) {
      return p;  // not inside Spark: the model load names the missing path
    }
  }

  private static void installShutdownHook() {
    if (shutdownHookInstalled) return;
    Runtime.getRuntime().addShutdownHook(new Thread(ExecutorModels::closeAll, "viscpm-spark-close-models"));
    shutdownHookInstalled = true;
  }

  /** Closes every model of this JVM (each close waits for the calls in flight on it). */
  static void closeAll() {
    List<AutoCloseable> models;
    synchronized (MODELS) {
      models = new ArrayList<>(MODELS.values());
      MODELS.clear();
    }
    for (AutoCloseable m : models) {
      try {
        m.close();
      } catch (Exception e) {
        // NativeObject.close does not throw; nothing else to do at shutdown
      }
    }
  }

  /** How many times this JVM loaded the chat model of these files (1 however many tasks used it). */
  static int chatLoads(ModelFiles files) {
    return LOADS.getOrDefault(new Key(ChatModel.class, files), 0);
  }
}
