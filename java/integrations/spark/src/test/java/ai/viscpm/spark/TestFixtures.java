package ai.viscpm.spark;

import java.nio.file.Files;
import java.nio.file.Path;

/** The golden fixtures (-Dviscpm.fixtures, set by the build, or VISCPM_FIXTURES). */
final class TestFixtures {
  private TestFixtures() {}

  static Path dir() {
    String configured = System.getProperty("viscpm.fixtures");
    if (configured == null || configured.isEmpty()) configured = System.getenv("VISCPM_FIXTURES");
    if (configured == null || configured.isEmpty()) throw new IllegalStateException("set -Dviscpm.fixtures=DIR");
    Path dir = Path.of(configured).toAbsolutePath().normalize();
    if (!Files.isRegularFile(dir.resolve("manifest.json"))) {
      throw new IllegalStateException("golden fixtures not found at " + dir + " (expected manifest.json)");
    }
    return dir;
  }
}
