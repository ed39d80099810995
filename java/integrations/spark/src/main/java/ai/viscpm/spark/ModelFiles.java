package ai.viscpm.spark;

import java.io.Serializable;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Where a model's files are on every executor node: the model directory, and optionally an
 * explicit checkpoint and vocabulary (null: looked for in the directory). Paths are strings
 * because they are resolved on the executors, not on the driver. It is also the key of the
 * per-executor model cache: two jobs naming the same files share one loaded model.
 *
 * @param device "cpu" (default) or "cuda"
 */
public record ModelFiles(String modelDir, String checkpoint, String vocabulary, String device) implements Serializable {
  public ModelFiles {
    Objects.requireNonNull(modelDir, "modelDir");
    if (device == null || device.isEmpty()) device = "cpu";
    ai.viscpm.Device.parse(device);  // fails on the driver for a typo, not on every executor
  }

  /** A model directory holding everything (checkpoint, configs, vocabulary). */
  public static ModelFiles of(String modelDir) {
    return new ModelFiles(modelDir, null, null, "cpu");
  }

  public ModelFiles withCheckpoint(String file) {
    return new ModelFiles(modelDir, file, vocabulary, device);
  }

  public ModelFiles withVocabulary(String file) {
    return new ModelFiles(modelDir, checkpoint, file, device);
  }

  public ModelFiles withDevice(String name) {
    return new ModelFiles(modelDir, checkpoint, vocabulary, name);
  }

  Path dirPath() {
    return Path.of(modelDir);
  }

  Path checkpointPath() {
    return checkpoint == null ? null : Path.of(checkpoint);
  }

  Path vocabularyPath() {
    return vocabulary == null ? null : Path.of(vocabulary);
  }
}
