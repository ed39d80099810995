package ai.viscpm.it;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the golden fixtures (../shared/fixtures, or -Dviscpm.fixtures / VISCPM_FIXTURES). */
public final class Fixtures {
  private Fixtures() {}

  public static Path dir() {
    String configured = System.getProperty("viscpm.fixtures");
    if (configured == null || configured.isEmpty()) configured = System.getenv("VISCPM_FIXTURES");
    Path dir = configured == null || configured.isEmpty() ? Path.of("..", "..", "shared", "fixtures") : Path.of(configured);
    dir = dir.toAbsolutePath().normalize();
    if (!Files.isRegularFile(dir.resolve("manifest.json"))) {
      throw new IllegalStateException("golden fixtures not found at " + dir
          + " (expected manifest.json; place the shared folder beside the checkout or set -Dviscpm.fixtures)");
    }
    return dir;
  }

  public static Path resolve(String relative) {
    return dir().resolve(relative);
  }
}
