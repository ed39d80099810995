package ai.viscpm.spark;

import ai.viscpm.Device;
import ai.viscpm.ModelOptions;
import ai.viscpm.VisCpm;
import ai.viscpm.VisCpmException;
import ai.viscpm.chat.ChatModel;
import ai.viscpm.paint.PaintModel;
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
      model = key.kind() == ChatModel.class
          ? ChatModel.load(f.dirPath(), f.checkpointPath(), null, null, f.vocabularyPath(), options)
          : PaintModel.load(f.dirPath(), f.checkpointPath(), f.vocabularyPath(), options);
      installShutdownHook();
      MODELS.put(key, model);
      return model;
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

  static long chatModelsLoaded() {
    return MODELS.keySet().stream().filter(k -> k.kind() == ChatModel.class).count();
  }
}
