package ai.viscpm.testkit;

import ai.viscpm.VisCpmException;
import ai.viscpm.internal.NativeLibrary;
import ai.viscpm.testkit.internal.jni.global.viscpm_testkit;
import java.nio.file.Path;
import org.bytedeco.javacpp.BytePointer;

/**
 * Tiny VisCPM models with RANDOM weights in the real formats and directory layouts, for
 * demos and tests: they load and run like released models, but their answers and pictures
 * are noise.
 */
public final class DemoModels {
  private DemoModels() {}

  /** Writes a demo VisCPM-Chat model directory (checkpoint, configs, vocabulary) to dir. */
  public static void writeChatModel(Path dir) throws VisCpmException {
    TestkitLibrary.load();
    try (BytePointer p = NativeLibrary.utf8(dir.toString())) {
      TestkitLibrary.check(viscpm_testkit.viscpm_testkit_write_demo_chat_model(p));
    }
  }

  /** Writes a demo VisCPM-Paint model directory (checkpoint, vocabulary, unet/, vae/, scheduler/) to dir. */
  public static void writePaintModel(Path dir) throws VisCpmException {
    TestkitLibrary.load();
    try (BytePointer p = NativeLibrary.utf8(dir.toString())) {
      TestkitLibrary.check(viscpm_testkit.viscpm_testkit_write_demo_paint_model(p));
    }
  }
}
