package ai.viscpm.spark;

import java.io.Serializable;
import java.util.Objects;

/**
 * Where a model's files are on every executor node: the model directory, and optionally an
 * explicit checkpoint and vocabulary (null: looked for in the directory). Paths are strings
 * because they are resolved on the executors, not on the driver: absolute paths as they are
 * (the model installed on every node), relative ones in the executor's working directory, or
 * among the files shipped with the job ({@code --archives viscpm-chat.tar.gz#chat} and
 * {@code ModelFiles.of("chat")}). It is also the key of the per-executor model cache: two jobs
 * naming the same files share one loaded model.
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

}
