package ai.viscpm.testkit;

import ai.viscpm.VisCpmException;
import ai.viscpm.internal.ErrorCodes;
import ai.viscpm.internal.NativeLibrary;
import ai.viscpm.testkit.internal.jni.global.viscpm_testkit;
import org.bytedeco.javacpp.Loader;

/** Loads libviscpm_testkit (after the runtime) and turns its statuses into exceptions. */
final class TestkitLibrary {
  private static volatile boolean loaded;

  private TestkitLibrary() {}

  static void load() {
    if (loaded) return;
    synchronized (TestkitLibrary.class) {
      if (loaded) return;
      NativeLibrary.load();
      Loader.load(viscpm_testkit.class);
      loaded = true;
    }
  }

  static void check(int status) throws VisCpmException {
    if (status == 0) return;
    throw VisCpmException.of(ErrorCodes.fromStatus(status), NativeLibrary.string(viscpm_testkit.viscpm_testkit_last_error()));
  }
}
